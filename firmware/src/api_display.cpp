// Display control (device-api.md §7): PUT screen and brightness, GET|POST
// sleep, POST wake and activity. Runtime only; the switch runs in loop().
#include "body_buffer.h"
#include "device_config.h"
#include "display_screens.h"
#include "json_psram.h"
#include "logger.h"
#include "web_server.h"

static void handle_screen(AsyncWebServerRequest *req) {
  JsonDocument doc = make_json_doc_psram();
  DeserializationError err;
  if (!web_parse_json_body(req, doc, &err)) return;
  if (err) return web_send_error(req, 400, "Invalid JSON");
  JsonVariantConst v = doc["screen"];
  if (!v.is<const char *>()) return web_send_error(req, 400, "Missing screen ID");
  const char *id = v.as<const char *>();
  if (id[0] == '\0') return web_send_error(req, 400, "Invalid screen ID");
  log_msgf(0, "API", LOG_NO_ELAPSED, "PUT /api/display/screen: %s", id);
  if (!display_request_screen(id)) return web_send_error(req, 404, "Screen not found");
  JsonDocument out = make_json_doc_psram();
  out["success"] = true;
  out["screen"] = id;
  web_send_doc(req, 200, out);
}

static void handle_brightness(AsyncWebServerRequest *req) {
  JsonDocument doc = make_json_doc_psram();
  DeserializationError err;
  if (!web_parse_json_body(req, doc, &err)) return;
  if (err) return web_send_error(req, 400, "Invalid JSON");
  if (!doc["brightness"].is<double>()) return web_send_error(req, 400, "Missing brightness value");
  double b = doc["brightness"].as<double>();
  uint8_t percent = b <= 0 ? 0 : (b >= 100 ? 100 : (uint8_t)b);
  display_apply_brightness(percent, false);
  JsonDocument out = make_json_doc_psram();
  out["success"] = true;
  out["brightness"] = percent;
  web_send_doc(req, 200, out);
}

static void handle_sleep_get(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  const DeviceConfig &c = device_config();
  JsonDocument out = make_json_doc_psram();
  out["enabled"] = c.screen_saver_enabled;
  out["state"] = display_sleep_state();
  out["current_brightness"] = display_current_brightness();
  out["target_brightness"] = c.backlight_brightness;
  bool counting = c.screen_saver_enabled && display_sleep_state() == 0;
  out["seconds_until_sleep"] = counting ? c.screen_saver_timeout_seconds : 0;
  web_send_doc(req, 200, out);
}

static void send_ok(AsyncWebServerRequest *req) {
  static const char kOk[] = "{\"success\":true}";
  web_send_json(req, 200, kOk, sizeof kOk - 1);
}

static void handle_sleep_post(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  log_msg(0, "API", "POST /api/display/sleep", 0);
  display_sleep();
  send_ok(req);
}

static void handle_wake(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  display_wake();
  send_ok(req);
}

static void handle_activity(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  bool wake = req->hasParam("wake") && req->getParam("wake")->value() == "1";
  log_msgf(0, "API", 0, "POST /api/display/activity (wake=%d)", wake ? 1 : 0);
  display_activity(wake);
  send_ok(req);
}

static void collect(AsyncWebServerRequest *req, uint8_t *data, size_t len, size_t index, size_t total) {
  body_buffer_collect(req, data, len, index, total);
}

void routes_display(AsyncWebServer &server) {
  server.on("/api/display/screen", HTTP_PUT, handle_screen, nullptr, collect);
  server.on("/api/display/brightness", HTTP_PUT, handle_brightness, nullptr, collect);
  server.on("/api/display/sleep", HTTP_GET, handle_sleep_get);
  server.on("/api/display/sleep", HTTP_POST, handle_sleep_post);
  server.on("/api/display/wake", HTTP_POST, handle_wake);
  server.on("/api/display/activity", HTTP_POST, handle_activity);
}
