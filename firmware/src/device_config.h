// Persistent device settings: NVS namespace "device_cfg", the keys and
// merge rules of the team device's /api/config (device-api.md §4), seeded
// from secrets.h when NVS is empty.
#pragma once
#include <ArduinoJson.h>
#include <stdint.h>

struct DeviceConfig {
  char wifi_ssid[32];
  char wifi_password[64];
  char device_name[32];
  char fixed_ip[16], subnet_mask[16], gateway[16], dns1[16], dns2[16];
  char dummy_setting[64];
  char mqtt_host[64];
  uint16_t mqtt_port;  // 0 = 1883
  char mqtt_username[32];
  char mqtt_password[64];
  uint32_t mqtt_interval_seconds;
  bool basic_auth_enabled;
  char basic_auth_username[32];
  char basic_auth_password[64];
  uint8_t backlight_brightness;  // 0..100
  bool screen_saver_enabled;
  uint32_t screen_saver_timeout_seconds, screen_saver_fade_out_ms, screen_saver_fade_in_ms;
  bool screen_saver_wake_on_touch;
};

void device_config_begin();  // load (or defaults from secrets.h)
const DeviceConfig &device_config();
// GET /api/config: every key, passwords "".
void device_config_to_json(JsonDocument &doc);
// Merges a POST body (only keys present). nullptr when valid, else the
// 400 message; the merged values stay in RAM either way, as on the device.
// *brightness_set tells whether the body carried backlight_brightness.
const char *device_config_merge(JsonVariantConst body, bool *brightness_set);
bool device_config_save();
bool device_config_reset();  // DELETE /api/config: clears device_cfg
// Lower case, [a-z0-9-], runs of ' ', '_', '-' as one '-', no trailing '-'.
void device_config_sanitized_name(char *out, size_t cap);
bool device_config_mqtt_configured();
