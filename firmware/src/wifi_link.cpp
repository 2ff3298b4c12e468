#include "wifi_link.h"

#include <WiFi.h>
#include <stdio.h>

#include "device_config.h"
#include "logger.h"

static bool s_ap;
static bool s_had_ip;
static uint32_t s_connect_start_ms;

const char *wifi_link_ip(char *buf, size_t cap) {
  IPAddress ip = s_ap ? WiFi.softAPIP() : WiFi.localIP();
  snprintf(buf, cap, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
  return buf;
}

static void log_got_ip() {
  char ip[16];
  log_msgf(0, "WiFi", (int32_t)(millis() - s_connect_start_ms), "Got IP: %s", wifi_link_ip(ip, sizeof ip));
}

void wifi_link_begin() {
  const DeviceConfig &cfg = device_config();
  static char hostname[sizeof cfg.device_name];
  device_config_sanitized_name(hostname, sizeof hostname);
  s_connect_start_ms = millis();
  if (cfg.wifi_ssid[0] == '\0') {
    s_ap = true;
    WiFi.mode(WIFI_AP);
    WiFi.softAP(hostname);
    char ip[16];
    log_msgf(0, "WiFi", LOG_NO_ELAPSED, "No SSID configured: access point \"%s\" at %s", hostname,
             wifi_link_ip(ip, sizeof ip));
    return;
  }
  WiFi.mode(WIFI_STA);
  WiFi.setHostname(hostname);
  WiFi.setAutoReconnect(true);
  WiFi.begin(cfg.wifi_ssid, cfg.wifi_password);
  log_msgf(0, "WiFi", LOG_NO_ELAPSED, "Connecting to \"%s\"...", cfg.wifi_ssid);
  while (WiFi.status() != WL_CONNECTED && millis() - s_connect_start_ms < 20000) delay(100);
  if (WiFi.status() == WL_CONNECTED) {
    s_had_ip = true;
    log_got_ip();
  } else {
    log_msg(0, "WiFi", "Not connected yet, retrying in the background", (int32_t)(millis() - s_connect_start_ms));
  }
}

void wifi_link_loop() {
  if (s_ap) return;
  bool up = WiFi.status() == WL_CONNECTED;
  if (up && !s_had_ip) log_got_ip();  // the address may change: heaplab prefers this line
  if (!up && s_had_ip) {
    s_connect_start_ms = millis();
    log_msg(0, "WiFi", "Disconnected", LOG_NO_ELAPSED);
  }
  s_had_ip = up;
}

bool wifi_link_is_ap() { return s_ap; }
