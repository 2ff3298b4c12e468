// heaplab reference firmware: heap telemetry over serial + a small portal.
//
// Serial protocol (see firmware/README.md): "[System Boot] Starting...",
// "  Firmware: v<VERSION>", "[WiFi] Got IP: <ip> (<N>ms)",
// "[Main] Setup complete (<N>ms)", "[Mem] <tag> hf=.. ..." snapshots, the
// once-per-boot TRIPWIRE + task dump, and ALLOC_FAILED lines.
#include <Arduino.h>

#include "alloc_hook.h"
#include "app_config.h"
#include "body_buffer.h"
#include "device_config.h"
#include "display_screens.h"
#include "esp_platform.h"
#include "health_window.h"
#include "image_api.h"
#include "image_url.h"
#include "logger.h"
#include "macro_store.h"
#include "mem_telemetry.h"
#include "mqtt_link.h"
#include "reboot.h"
#include "web_server.h"
#include "wifi_link.h"

void setup() {
  Serial.begin(115200);
  delay(200);  // let USB-CDC enumerate so the first lines are not lost
  logger_begin();
  log_msg(0, "System Boot", "Starting...", LOG_NO_ELAPSED);
  log_msg(2, nullptr, "Firmware: v" HEAPLAB_FIRMWARE_VERSION, LOG_NO_ELAPSED);
  if (!psramFound()) log_msg(0, "Mem", "WARNING: no PSRAM found - check board_build.arduino.memory_type", LOG_NO_ELAPSED);

  // Telemetry first, so everything after it is measured.
  alloc_hook_begin();
  esp_platform_begin();
  mem_telemetry_begin();
  mem_snapshot_emit("boot");
  health_window_begin();

  // Long-lived buffers early (PSRAM), before the heap gets fragmented.
  device_config_begin();
  body_buffer_begin();
  macro_store_begin();
  display_screens_begin();
  image_api_begin();

  wifi_link_begin();
  web_server_begin();
  mqtt_link_begin();  // connects from loop(), after setup

  mem_snapshot_emit("setup");
  log_msg(0, "Main", "Setup complete", (int32_t)millis());
  log_msg(0, "Display", "Switched to macro1", LOG_NO_ELAPSED);
}

void loop() {
  mem_telemetry_loop();    // queued tags from HTTP handlers + heartbeat "hb"
  display_screens_loop();  // lvgl_switch_pre_* / lvgl_switch_post_*
  image_url_loop();        // image_url downloads: urlimg pre/post-download
  image_api_loop();        // img pre-decode / post-decode / dismiss, strips
  wifi_link_loop();
  mqtt_link_loop();        // connect/retry, discovery, health state, mqtt_* tags
  reboot_loop();
  delay(10);
}
