#include "device_config.h"

#include <Arduino.h>
#include <Preferences.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app_config.h"

static DeviceConfig s_cfg;
static const char *NS = "device_cfg";

// A string field: JSON key, buffer, capacity, whether "" keeps the value.
struct TextField {
  const char *key;
  char *dst;
  size_t cap;
  bool keep_if_empty;
};

static const TextField kText[] = {
    {"wifi_ssid", s_cfg.wifi_ssid, sizeof s_cfg.wifi_ssid, false},
    {"wifi_password", s_cfg.wifi_password, sizeof s_cfg.wifi_password, true},
    {"device_name", s_cfg.device_name, sizeof s_cfg.device_name, true},
    {"fixed_ip", s_cfg.fixed_ip, sizeof s_cfg.fixed_ip, false},
    {"subnet_mask", s_cfg.subnet_mask, sizeof s_cfg.subnet_mask, false},
    {"gateway", s_cfg.gateway, sizeof s_cfg.gateway, false},
    {"dns1", s_cfg.dns1, sizeof s_cfg.dns1, false},
    {"dns2", s_cfg.dns2, sizeof s_cfg.dns2, false},
    {"dummy_setting", s_cfg.dummy_setting, sizeof s_cfg.dummy_setting, false},
    {"mqtt_host", s_cfg.mqtt_host, sizeof s_cfg.mqtt_host, false},
    {"mqtt_username", s_cfg.mqtt_username, sizeof s_cfg.mqtt_username, false},
    {"mqtt_password", s_cfg.mqtt_password, sizeof s_cfg.mqtt_password, true},
    {"basic_auth_username", s_cfg.basic_auth_username, sizeof s_cfg.basic_auth_username, false},
    {"basic_auth_password", s_cfg.basic_auth_password, sizeof s_cfg.basic_auth_password, true},
};

static bool is_secret(const char *key) { return strstr(key, "password") != nullptr; }

static void copy(char *dst, size_t cap, const char *src) {
  strncpy(dst, src ? src : "", cap - 1);
  dst[cap - 1] = '\0';
}

static void defaults() {
  memset(&s_cfg, 0, sizeof s_cfg);
  copy(s_cfg.wifi_ssid, sizeof s_cfg.wifi_ssid, WIFI_SSID);
  copy(s_cfg.wifi_password, sizeof s_cfg.wifi_password, WIFI_PASSWORD);
  copy(s_cfg.device_name, sizeof s_cfg.device_name, DEVICE_HOSTNAME);
  copy(s_cfg.mqtt_host, sizeof s_cfg.mqtt_host, MQTT_HOST);
  s_cfg.mqtt_port = MQTT_PORT;
  copy(s_cfg.mqtt_username, sizeof s_cfg.mqtt_username, MQTT_USER);
  copy(s_cfg.mqtt_password, sizeof s_cfg.mqtt_password, MQTT_PASSWORD);
  s_cfg.basic_auth_enabled = HTTP_AUTH_USER[0] != '\0';
  copy(s_cfg.basic_auth_username, sizeof s_cfg.basic_auth_username, HTTP_AUTH_USER);
  copy(s_cfg.basic_auth_password, sizeof s_cfg.basic_auth_password, HTTP_AUTH_PASSWORD);
  s_cfg.backlight_brightness = 100;
  s_cfg.screen_saver_timeout_seconds = 300;
  s_cfg.screen_saver_fade_out_ms = 800;
  s_cfg.screen_saver_fade_in_ms = 400;
  s_cfg.screen_saver_wake_on_touch = true;
  if (s_cfg.device_name[0] == '\0') {
    uint64_t mac = ESP.getEfuseMac();  // works before Wi-Fi is started
    snprintf(s_cfg.device_name, sizeof s_cfg.device_name, "heaplab-%02x%02x%02x", (unsigned)((mac >> 24) & 0xff),
             (unsigned)((mac >> 32) & 0xff), (unsigned)((mac >> 40) & 0xff));
  }
}

void device_config_begin() {
  defaults();
  Preferences p;
  if (!p.begin(NS, true)) return;
  if (p.isKey("cfg") && p.getBytesLength("cfg") == sizeof s_cfg) p.getBytes("cfg", &s_cfg, sizeof s_cfg);
  p.end();
}

const DeviceConfig &device_config() { return s_cfg; }

void device_config_sanitized_name(char *out, size_t cap) {
  size_t n = 0;
  for (const char *c = s_cfg.device_name; *c && n + 1 < cap; c++) {
    char ch = (*c >= 'A' && *c <= 'Z') ? (char)(*c - 'A' + 'a') : *c;
    bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
    if (alnum) {
      out[n++] = ch;
    } else if ((ch == ' ' || ch == '_' || ch == '-') && n > 0 && out[n - 1] != '-') {
      out[n++] = '-';
    }
  }
  while (n > 0 && out[n - 1] == '-') n--;
  out[n] = '\0';
}

void device_config_to_json(JsonDocument &doc) {
  for (const TextField &f : kText) doc[f.key] = is_secret(f.key) ? "" : (const char *)f.dst;
  char sanitized[sizeof s_cfg.device_name];
  device_config_sanitized_name(sanitized, sizeof sanitized);
  doc["device_name_sanitized"] = (const char *)sanitized;
  doc["mqtt_port"] = s_cfg.mqtt_port;
  doc["mqtt_interval_seconds"] = s_cfg.mqtt_interval_seconds;
  doc["basic_auth_enabled"] = s_cfg.basic_auth_enabled;
  doc["basic_auth_password_set"] = s_cfg.basic_auth_password[0] != '\0';
  doc["backlight_brightness"] = s_cfg.backlight_brightness;
  doc["screen_saver_enabled"] = s_cfg.screen_saver_enabled;
  doc["screen_saver_timeout_seconds"] = s_cfg.screen_saver_timeout_seconds;
  doc["screen_saver_fade_out_ms"] = s_cfg.screen_saver_fade_out_ms;
  doc["screen_saver_fade_in_ms"] = s_cfg.screen_saver_fade_in_ms;
  doc["screen_saver_wake_on_touch"] = s_cfg.screen_saver_wake_on_touch;
}

// A JSON number or a numeric string.
static bool number(JsonVariantConst v, uint32_t *out) {
  if (v.is<double>()) {
    double d = v.as<double>();
    *out = d <= 0 ? 0 : (uint32_t)d;
    return true;
  }
  if (v.is<const char *>()) {
    const char *s = v.as<const char *>();
    char *end = nullptr;
    double d = strtod(s, &end);
    if (end == s) return false;
    *out = d <= 0 ? 0 : (uint32_t)d;
    return true;
  }
  return false;
}

// A JSON bool, or "1"/"true"/"on" (any case); other strings are false.
static bool flag(JsonVariantConst v, bool *out) {
  if (v.is<bool>()) {
    *out = v.as<bool>();
  } else if (v.is<const char *>()) {
    const char *s = v.as<const char *>();
    *out = strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "on") == 0;
  } else {
    return false;
  }
  return true;
}

const char *device_config_merge(JsonVariantConst body, bool *brightness_set) {
  for (const TextField &f : kText) {
    JsonVariantConst v = body[f.key];
    if (v.isUnbound()) continue;
    const char *s = v.is<const char *>() ? v.as<const char *>() : "";  // null -> ""
    if (f.keep_if_empty && s[0] == '\0') continue;
    copy(f.dst, f.cap, s);  // silently truncated to the field
  }
  uint32_t n = 0;
  if (number(body["mqtt_port"], &n)) s_cfg.mqtt_port = (uint16_t)(n > 65535 ? 65535 : n);
  if (number(body["mqtt_interval_seconds"], &n)) s_cfg.mqtt_interval_seconds = n;
  if (number(body["screen_saver_timeout_seconds"], &n)) s_cfg.screen_saver_timeout_seconds = n;
  if (number(body["screen_saver_fade_out_ms"], &n)) s_cfg.screen_saver_fade_out_ms = n;
  if (number(body["screen_saver_fade_in_ms"], &n)) s_cfg.screen_saver_fade_in_ms = n;
  *brightness_set = number(body["backlight_brightness"], &n);
  if (*brightness_set) s_cfg.backlight_brightness = (uint8_t)(n > 100 ? 100 : n);
  flag(body["basic_auth_enabled"], &s_cfg.basic_auth_enabled);
  flag(body["screen_saver_enabled"], &s_cfg.screen_saver_enabled);
  flag(body["screen_saver_wake_on_touch"], &s_cfg.screen_saver_wake_on_touch);
  bool auth_ok = !s_cfg.basic_auth_enabled ||
                 (s_cfg.basic_auth_username[0] != '\0' && s_cfg.basic_auth_password[0] != '\0');
  if (s_cfg.wifi_ssid[0] == '\0' || s_cfg.device_name[0] == '\0' || !auth_ok) return "Invalid configuration";
  return nullptr;
}

bool device_config_save() {
  Preferences p;
  if (!p.begin(NS, false)) return false;
  bool ok = p.putBytes("cfg", &s_cfg, sizeof s_cfg) == sizeof s_cfg;
  p.end();
  return ok;
}

bool device_config_reset() {
  Preferences p;
  if (!p.begin(NS, false)) return false;
  bool ok = p.clear();
  p.end();
  return ok;
}

bool device_config_mqtt_configured() { return s_cfg.mqtt_host[0] != '\0'; }
