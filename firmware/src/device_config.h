// Persistent device settings (NVS via Preferences), seeded from secrets.h.
#pragma once
#include <stdint.h>

struct DeviceConfig {
  char hostname[33];
  char wifi_ssid[33];
  char wifi_password[65];
  char mqtt_host[65];
  uint16_t mqtt_port;
  char mqtt_user[33];
  char mqtt_password[65];
};

void device_config_begin();              // load (or defaults from secrets.h)
const DeviceConfig &device_config();
DeviceConfig &device_config_mut();       // edit, then device_config_save()
bool device_config_save();
bool device_config_mqtt_configured();
