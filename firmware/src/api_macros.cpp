// GET|POST /api/macros - the body is parsed into a PSRAM-backed JsonDocument;
// http_macros_post_parsed / http_macros_post_saved snapshots are queued for
// the main loop.
#include "body_buffer.h"
#include "icon_store.h"
#include "json_psram.h"
#include "macro_store.h"
#include "mem_telemetry.h"
#include "web_server.h"

static void handle_get(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  size_t len = 0;
  const char *json = macro_store_json(&len);  // stable PSRAM buffer
  web_send_json(req, 200, json, len);
}

static void handle_post(AsyncWebServerRequest *req) {
  JsonDocument doc = make_json_doc_psram();
  DeserializationError err;
  if (!web_parse_json_body(req, doc, &err)) return;
  if (err || !doc["macros"].is<JsonArray>()) {
    req->send(400, "application/json", "{\"error\":\"expected {\\\"macros\\\":[...]}\"}");
    return;
  }
  mem_snapshot_request("http_macros_post_parsed");
  if (!macro_store_save(doc)) {
    req->send(500, "application/json", "{\"error\":\"macros too large or NVS write failed\"}");
    return;
  }
  for (JsonVariantConst m : doc["macros"].as<JsonArrayConst>()) {
    const char *icon = m["icon"].as<const char *>();
    if (icon) icon_store_ensure(icon);
  }
  mem_snapshot_request("http_macros_post_saved");
  JsonDocument out = make_json_doc_psram();
  out["saved"] = true;
  out["macros"] = macro_store_count();
  web_send_doc(req, 200, out);
}

void routes_macros(AsyncWebServer &server) {
  server.on("/api/macros", HTTP_GET, handle_get);
  server.on("/api/macros", HTTP_POST, handle_post, nullptr,
            [](AsyncWebServerRequest *req, uint8_t *data, size_t len, size_t index, size_t total) {
              body_buffer_collect(req, data, len, index, total);
            });
}
