#include "web_server.h"

#include "app_config.h"
#include "body_buffer.h"
#include "device_config.h"
#include "image_url.h"
#include "wifi_link.h"
#include "json_psram.h"
#include "logger.h"
#include "response_pool.h"

static AsyncWebServer s_server(80);

bool web_authorized(AsyncWebServerRequest *req) {
  const DeviceConfig &c = device_config();
  if (!c.basic_auth_enabled || wifi_link_is_ap()) return true;  // never in AP mode
  if (req->authenticate(c.basic_auth_username, c.basic_auth_password)) return true;
  req->requestAuthentication(nullptr, false);  // basic
  return false;
}

bool web_parse_json_body(AsyncWebServerRequest *req, JsonDocument &doc, DeserializationError *err) {
  if (!web_authorized(req)) {
    body_buffer_release(req);
    return false;
  }
  size_t len = 0;
  char *body = body_buffer_take(req, &len);
  if (!body) return false;
  *err = deserializeJson(doc, body, len);
  body_buffer_release(req);
  return true;
}

void web_send_json(AsyncWebServerRequest *req, int code, const char *json, size_t len) {
  req->send(code, "application/json", reinterpret_cast<const uint8_t *>(json), len);
}

static void send_envelope(AsyncWebServerRequest *req, int code, bool ok, const char *message) {
  JsonDocument doc = make_json_doc_psram();
  doc["success"] = ok;
  doc["message"] = message;  // copied: messages may be built in a stack buffer
  web_send_doc(req, code, doc);
}

void web_send_error(AsyncWebServerRequest *req, int code, const char *message) {
  send_envelope(req, code, false, message);
}

void web_send_success(AsyncWebServerRequest *req, const char *message) { send_envelope(req, 200, true, message); }

void web_send_doc(AsyncWebServerRequest *req, int code, const JsonDocument &doc) {
  char *buf = response_pool_next();
  size_t len = serializeJson(doc, buf, RESPONSE_SLOT_BYTES);
  if (len == 0 || len >= RESPONSE_SLOT_BYTES - 1) {
    req->send(500, "application/json", "{\"success\":false,\"message\":\"Response too large\"}");
    return;
  }
  web_send_json(req, code, buf, len);
}

void web_server_begin() {
  response_pool_begin();
  // Specific routes before their prefixes (ESPAsyncWebServer matches
  // "/api/icons" for "/api/icons/gc" too).
  routes_icons(s_server);
  routes_image_url(s_server);  // before /api/display/image (prefix match)
  routes_image(s_server);  // before /api/display/* prefixes
  routes_display(s_server);
  routes_system(s_server);
  routes_update(s_server);
  routes_config(s_server);
  routes_macros(s_server);
  routes_pages(s_server);
  s_server.onNotFound([](AsyncWebServerRequest *req) { req->send(404, "text/plain", "Not found"); });
  s_server.begin();
  log_msg(0, "Portal", "HTTP server started on port 80", LOG_NO_ELAPSED);
}
