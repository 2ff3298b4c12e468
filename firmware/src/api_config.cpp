// GET|POST /api/config - secrets are never returned: passwords are masked.
#include <string.h>

#include "device_config.h"
#include "body_buffer.h"
#include "json_psram.h"
#include "reboot.h"
#include "web_server.h"

static const char *MASK = "********";

static const char *masked(const char *secret) { return secret[0] ? MASK : ""; }

static void handle_get(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  const DeviceConfig &c = device_config();
  JsonDocument doc = make_json_doc_psram();
  doc["hostname"] = c.hostname;
  doc["wifi_ssid"] = c.wifi_ssid;
  doc["wifi_password"] = masked(c.wifi_password);
  doc["mqtt_host"] = c.mqtt_host;
  doc["mqtt_port"] = c.mqtt_port;
  doc["mqtt_user"] = c.mqtt_user;
  doc["mqtt_password"] = masked(c.mqtt_password);
  web_send_doc(req, 200, doc);
}

// Copies a string field when present; a masked password means "unchanged".
static void take(JsonDocument &doc, const char *key, char *dst, size_t cap, bool secret) {
  JsonVariantConst v = doc[key];
  if (!v.is<const char *>()) return;
  const char *s = v.as<const char *>();
  if (secret && strcmp(s, MASK) == 0) return;
  strncpy(dst, s, cap - 1);
  dst[cap - 1] = '\0';
}

static void handle_post(AsyncWebServerRequest *req) {
  JsonDocument doc = make_json_doc_psram();
  DeserializationError err;
  if (!web_parse_json_body(req, doc, &err)) return;
  if (err || !doc.is<JsonObject>()) {
    req->send(400, "application/json", "{\"error\":\"expected a JSON object\"}");
    return;
  }
  DeviceConfig &c = device_config_mut();
  take(doc, "hostname", c.hostname, sizeof c.hostname, false);
  take(doc, "wifi_ssid", c.wifi_ssid, sizeof c.wifi_ssid, false);
  take(doc, "wifi_password", c.wifi_password, sizeof c.wifi_password, true);
  take(doc, "mqtt_host", c.mqtt_host, sizeof c.mqtt_host, false);
  take(doc, "mqtt_user", c.mqtt_user, sizeof c.mqtt_user, false);
  take(doc, "mqtt_password", c.mqtt_password, sizeof c.mqtt_password, true);
  if (doc["mqtt_port"].is<uint16_t>()) c.mqtt_port = doc["mqtt_port"].as<uint16_t>();
  if (!device_config_save()) {
    req->send(500, "application/json", "{\"error\":\"saving to NVS failed\"}");
    return;
  }
  bool no_reboot = req->hasParam("no_reboot") && req->getParam("no_reboot")->value() == "1";
  if (no_reboot) {
    req->send(200, "application/json", "{\"saved\":true,\"rebooting\":false}");
  } else {
    req->send(202, "application/json", "{\"saved\":true,\"rebooting\":true}");
    reboot_schedule(500);
  }
}

void routes_config(AsyncWebServer &server) {
  server.on("/api/config", HTTP_GET, handle_get);
  server.on("/api/config", HTTP_POST, handle_post, nullptr,
            [](AsyncWebServerRequest *req, uint8_t *data, size_t len, size_t index, size_t total) {
              body_buffer_collect(req, data, len, index, total);
            });
}
