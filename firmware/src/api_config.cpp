// GET|POST|DELETE /api/config (device-api.md §4): passwords are never
// returned ("" plus basic_auth_password_set), an empty password keeps the
// stored one, and ?no_reboot (present, any value) saves without a restart.
#include <string.h>

#include "body_buffer.h"
#include "device_config.h"
#include "display_screens.h"
#include "json_psram.h"
#include "logger.h"
#include "reboot.h"
#include "web_server.h"
#include "wifi_link.h"

static void handle_get(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  JsonDocument doc = make_json_doc_psram();
  device_config_to_json(doc);
  web_send_doc(req, 200, doc);
}

static bool has_auth_key(JsonObjectConst body) {
  for (JsonPairConst kv : body)
    if (strncmp(kv.key().c_str(), "basic_auth_", 11) == 0) return true;
  return false;
}

static void handle_post(AsyncWebServerRequest *req) {
  JsonDocument doc = make_json_doc_psram();
  DeserializationError err;
  if (!web_parse_json_body(req, doc, &err)) return;
  if (err == DeserializationError::NoMemory) {
    web_send_error(req, 413, "JSON body too large");
    return;
  }
  if (err || !doc.is<JsonObjectConst>()) {
    web_send_error(req, 400, "Invalid JSON");
    return;
  }
  if (wifi_link_is_ap() && has_auth_key(doc.as<JsonObjectConst>())) {
    web_send_error(req, 403, "Basic Auth settings cannot be changed in AP mode");
    return;
  }
  bool brightness_set = false;
  const char *invalid = device_config_merge(doc.as<JsonVariantConst>(), &brightness_set);
  if (brightness_set) display_apply_brightness(device_config().backlight_brightness, true);
  if (invalid) {
    web_send_error(req, 400, invalid);
    return;
  }
  if (!device_config_save()) {
    web_send_error(req, 500, "Failed to save");
    return;
  }
  log_msg(0, "Portal", "Config saved", 0);
  web_send_success(req, "Configuration saved");
  if (!req->hasParam("no_reboot")) {
    log_msg(0, "Portal", "Rebooting device", 0);
    reboot_schedule(100);
  }
}

static void handle_delete(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  if (!device_config_reset()) {
    web_send_error(req, 500, "Failed to reset");
    return;
  }
  web_send_success(req, "Configuration reset");
  reboot_schedule(100);
}

void routes_config(AsyncWebServer &server) {
  server.on("/api/config", HTTP_GET, handle_get);
  server.on("/api/config", HTTP_DELETE, handle_delete);
  server.on("/api/config", HTTP_POST, handle_post, nullptr,
            [](AsyncWebServerRequest *req, uint8_t *data, size_t len, size_t index, size_t total) {
              body_buffer_collect(req, data, len, index, total);
            });
}
