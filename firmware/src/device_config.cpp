#include "device_config.h"

#include <Preferences.h>
#include <Arduino.h>
#include <stdio.h>
#include <string.h>

#include "app_config.h"

static DeviceConfig s_cfg;
static const char *NS = "heaplab";

static void copy(char *dst, size_t cap, const char *src) {
  strncpy(dst, src ? src : "", cap - 1);
  dst[cap - 1] = '\0';
}

// Preferences::getString(key, char*, len) reads into our buffer (no String).
static void load_str(Preferences &p, const char *key, char *dst, size_t cap) {
  if (p.isKey(key)) p.getString(key, dst, cap);
}

void device_config_begin() {
  copy(s_cfg.hostname, sizeof s_cfg.hostname, DEVICE_HOSTNAME);
  copy(s_cfg.wifi_ssid, sizeof s_cfg.wifi_ssid, WIFI_SSID);
  copy(s_cfg.wifi_password, sizeof s_cfg.wifi_password, WIFI_PASSWORD);
  copy(s_cfg.mqtt_host, sizeof s_cfg.mqtt_host, MQTT_HOST);
  s_cfg.mqtt_port = MQTT_PORT;
  copy(s_cfg.mqtt_user, sizeof s_cfg.mqtt_user, MQTT_USER);
  copy(s_cfg.mqtt_password, sizeof s_cfg.mqtt_password, MQTT_PASSWORD);

  Preferences p;
  if (p.begin(NS, true)) {
    load_str(p, "hostname", s_cfg.hostname, sizeof s_cfg.hostname);
    load_str(p, "ssid", s_cfg.wifi_ssid, sizeof s_cfg.wifi_ssid);
    load_str(p, "wpass", s_cfg.wifi_password, sizeof s_cfg.wifi_password);
    load_str(p, "mhost", s_cfg.mqtt_host, sizeof s_cfg.mqtt_host);
    s_cfg.mqtt_port = p.getUShort("mport", s_cfg.mqtt_port);
    load_str(p, "muser", s_cfg.mqtt_user, sizeof s_cfg.mqtt_user);
    load_str(p, "mpass", s_cfg.mqtt_password, sizeof s_cfg.mqtt_password);
    p.end();
  }
  if (s_cfg.hostname[0] == '\0') {
    uint64_t mac = ESP.getEfuseMac();  // works before Wi-Fi is started
    snprintf(s_cfg.hostname, sizeof s_cfg.hostname, "heaplab-%02x%02x%02x", (unsigned)((mac >> 24) & 0xff),
             (unsigned)((mac >> 32) & 0xff), (unsigned)((mac >> 40) & 0xff));
  }
}

const DeviceConfig &device_config() { return s_cfg; }
DeviceConfig &device_config_mut() { return s_cfg; }

bool device_config_save() {
  Preferences p;
  if (!p.begin(NS, false)) return false;
  bool ok = p.putString("hostname", s_cfg.hostname) > 0 || s_cfg.hostname[0] == '\0';
  p.putString("ssid", s_cfg.wifi_ssid);
  p.putString("wpass", s_cfg.wifi_password);
  p.putString("mhost", s_cfg.mqtt_host);
  p.putUShort("mport", s_cfg.mqtt_port);
  p.putString("muser", s_cfg.mqtt_user);
  p.putString("mpass", s_cfg.mqtt_password);
  p.end();
  return ok;
}

bool device_config_mqtt_configured() { return s_cfg.mqtt_host[0] != '\0'; }
