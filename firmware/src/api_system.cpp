// /api/health, /api/info, /api/mode, /api/reboot
#include <Arduino.h>
#include <WiFi.h>
#include <esp_heap_caps.h>
#include <esp_idf_version.h>
#if ESP_IDF_VERSION_MAJOR >= 5
#include <esp_app_desc.h>
#define RUNNING_APP_DESC() esp_app_get_description()
#else
#include <esp_ota_ops.h>  // Arduino-ESP32 2.x (IDF 4.4)
#define RUNNING_APP_DESC() esp_ota_get_app_description()
#endif
#include <esp_system.h>
#include <esp_timer.h>
#include <soc/soc_caps.h>
#include <stdio.h>
#include <string.h>

#include "alloc_hook.h"
#include "app_config.h"
#include "device_config.h"
#include "esp_platform.h"
#include "health_window.h"
#include "heaptrace.h"
#include "json_psram.h"
#include "display_screens.h"
#include "logger.h"
#include "mqtt_link.h"
#include "reboot.h"
#include "response_pool.h"
#include "system_health.h"
#include "web_server.h"
#include "wifi_link.h"

static uint32_t s_sketch_size;  // cached: ESP.getSketchSize() walks the image

static const char *reset_reason_name(esp_reset_reason_t r) {
  switch (r) {
    case ESP_RST_POWERON: return "POWERON";
    case ESP_RST_EXT: return "EXT";
    case ESP_RST_SW: return "SW";
    case ESP_RST_PANIC: return "PANIC";
    case ESP_RST_INT_WDT: return "INT_WDT";
    case ESP_RST_TASK_WDT: return "TASK_WDT";
    case ESP_RST_WDT: return "WDT";
    case ESP_RST_DEEPSLEEP: return "DEEPSLEEP";
    case ESP_RST_BROWNOUT: return "BROWNOUT";
    case ESP_RST_SDIO: return "SDIO";
    default: return "UNKNOWN";
  }
}

void system_health_fill(ht_health_t *h, HealthStrings *strings, bool take_window) {
  ht_snapshot_t s;
  ht_health_init(h);
  h->uptime_seconds = ht_i64(esp_timer_get_time() / 1000000LL);
  h->reset_reason = reset_reason_name(esp_reset_reason());
  h->cpu_freq = ht_i64(getCpuFrequencyMhz());
#if SOC_TEMP_SENSOR_SUPPORTED
  h->cpu_temperature = ht_f64(temperatureRead());
#endif
  if (ht_capture(esp_platform(), &s)) ht_health_set_snapshot(h, &s);
  h->heap_size = ht_i64(heap_caps_get_total_size(MALLOC_CAP_INTERNAL));
  if (take_window) {
    ht_window_t w;
    health_window_take(&w);  // take + reset: only GET /api/health does this
    ht_health_set_window(h, &w);
  }
  if (s_sketch_size == 0) s_sketch_size = ESP.getSketchSize();
  h->flash_used = ht_i64(s_sketch_size);
  h->flash_total = ht_i64(ESP.getFlashChipSize());
  h->mqtt_enabled = ht_bool(device_config_mqtt_configured());
  h->mqtt_publish_enabled = ht_bool(device_config_mqtt_configured() && device_config().mqtt_interval_seconds > 0);
  h->mqtt_connected = ht_bool(mqtt_link_connected());
  int64_t last = mqtt_link_last_health_publish_ms();
  if (last >= 0) {
    h->mqtt_last_health_publish_ms = ht_i64(last);
    h->mqtt_health_publish_age_ms = ht_i64((int64_t)millis() - last);
  }
  if (!wifi_link_is_ap() && WiFi.status() == WL_CONNECTED) {
    h->wifi_rssi = ht_i64(WiFi.RSSI());
    h->wifi_channel = ht_i64(WiFi.channel());
  }
  h->ip_address = wifi_link_ip(strings->ip, sizeof strings->ip);
  device_config_sanitized_name(strings->hostname, sizeof strings->hostname);
  h->hostname = strings->hostname;
}

static void handle_health(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  static ht_health_t h;  // async_tcp task only: one request at a time
  static HealthStrings strings;
  system_health_fill(&h, &strings, true);

  char *buf = response_pool_next();
  bool truncated = false;
  size_t len = ht_health_json(buf, RESPONSE_SLOT_BYTES, &h, &truncated);
  if (truncated) {
    req->send(500, "application/json", "{\"error\":\"health too large\"}");
    return;
  }
  web_send_json(req, 200, buf, len);
}

// The running app's ELF SHA-256 from its esp_app_desc_t, as hex.
static const char *app_elf_sha256_hex() {
  static char hex[65];
  if (hex[0] == '\0') {
    const esp_app_desc_t *desc = RUNNING_APP_DESC();
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", desc->app_elf_sha256[i]);
  }
  return hex;
}

static void handle_info(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  static char hostname[40];
  static char mdns[48];
  static char mac[18];
  device_config_sanitized_name(hostname, sizeof hostname);
  snprintf(mdns, sizeof mdns, "%s.local", hostname);
  uint8_t m[6];
  WiFi.macAddress(m);
  snprintf(mac, sizeof mac, "%02X:%02X:%02X:%02X:%02X:%02X", m[0], m[1], m[2], m[3], m[4], m[5]);
  if (s_sketch_size == 0) s_sketch_size = ESP.getSketchSize();
  JsonDocument doc = make_json_doc_psram();
  doc["version"] = HEAPLAB_FIRMWARE_VERSION;
  // The running image's own description (what `heaplab flash` checked).
  doc["app_elf_sha256"] = app_elf_sha256_hex();
  doc["build_date"] = __DATE__;
  doc["build_time"] = __TIME__;
  doc["chip_model"] = ESP.getChipModel();
  doc["chip_revision"] = ESP.getChipRevision();
  doc["chip_cores"] = ESP.getChipCores();
  doc["cpu_freq"] = getCpuFrequencyMhz();
  doc["flash_chip_size"] = ESP.getFlashChipSize();
  doc["psram_size"] = ESP.getPsramSize();
  doc["free_heap"] = ESP.getFreeHeap();
  doc["sketch_size"] = s_sketch_size;
  doc["free_sketch_space"] = ESP.getFreeSketchSpace();
  doc["mac_address"] = (const char *)mac;
  doc["wifi_hostname"] = (const char *)hostname;
  doc["hostname"] = (const char *)hostname;
  doc["mdns_name"] = (const char *)mdns;
  doc["project_name"] = "heaplab-firmware";
  doc["project_display_name"] = "heaplab reference device";
  doc["health_poll_interval_ms"] = 5000;
  doc["health_history_seconds"] = 300;
  doc["board_name"] = "esp32-s3-devkitc-1";
  doc["github_updates_enabled"] = false;
  doc["has_mqtt"] = true;
  doc["has_backlight"] = false;
  doc["has_display"] = false;  // no panel: screens are a PSRAM frame buffer
  doc["display_coord_width"] = DISPLAY_SIDE;
  doc["display_coord_height"] = DISPLAY_SIDE;
  JsonArray screens = doc["available_screens"].to<JsonArray>();
  for (size_t i = 0; i < display_screen_count(); i++) {
    JsonObject o = screens.add<JsonObject>();
    o["id"] = display_screen_id(i);
    o["name"] = display_screen_name(i);
  }
  const char *current = display_current_screen();  // nullptr while an image is shown
  if (current) {
    doc["current_screen"] = current;
  } else {
    doc["current_screen"] = nullptr;
  }
  // heaplab extras: telemetry settings and the allocation-failure count.
  doc["heartbeat_interval_ms"] = MEMORY_HEARTBEAT_INTERVAL_MS;
  doc["tripwire_internal_min_bytes"] = MEMORY_TRIPWIRE_INTERNAL_MIN_BYTES;
  doc["alloc_failures"] = alloc_hook_failures();
  web_send_doc(req, 200, doc);
}

static void handle_mode(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  JsonDocument doc = make_json_doc_psram();
  doc["mode"] = wifi_link_is_ap() ? "core" : "full";
  doc["ap_active"] = wifi_link_is_ap();
  web_send_doc(req, 200, doc);
}

static void handle_reboot(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  log_msg(0, "API", "POST /api/reboot", 0);
  web_send_success(req, "Rebooting device...");
  log_msg(0, "Portal", "Rebooting", 0);
  reboot_schedule(100);  // let the reply leave first
}

void routes_system(AsyncWebServer &server) {
  server.on("/api/health", HTTP_GET, handle_health);
  server.on("/api/info", HTTP_GET, handle_info);
  server.on("/api/mode", HTTP_GET, handle_mode);
  server.on("/api/reboot", HTTP_POST, handle_reboot);
}
