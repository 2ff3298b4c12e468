// GET /api/icons (compiled mask registry, no "success" key), GET
// /api/icons/installed, POST /api/icons/install?id=<id> (ICN1 blob) and
// POST /api/icons/gc (device-api.md §6). The gc keeps no on-stack set: it
// asks the running macro config about each file (the S6 async_tcp stack
// overflow fix).
#include "body_buffer.h"
#include "icon_store.h"
#include "json_psram.h"
#include "web_server.h"

static void handle_list(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  JsonDocument doc = make_json_doc_psram();
  JsonArray icons = doc["icons"].to<JsonArray>();
  for (size_t i = 0; i < icon_builtin_count(); i++) {
    JsonObject o = icons.add<JsonObject>();
    o["id"] = icon_builtin_id(i);
    o["kind"] = "mask";
  }
  web_send_doc(req, 200, doc);
}

static void handle_installed(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  JsonDocument doc = make_json_doc_psram();
  doc["success"] = true;
  doc["source"] = "ffat";
  icon_store_list(doc["icons"].to<JsonArray>());
  web_send_doc(req, 200, doc);
}

static void handle_install(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return body_buffer_release(req);
  const char *id = req->hasParam("id") ? req->getParam("id")->value().c_str() : nullptr;
  size_t len = 0;
  char *body = body_buffer_take(req, &len);
  if (!body) return;
  int status = 400;
  const char *err = icon_store_install(id, reinterpret_cast<const uint8_t *>(body), len, &status);
  body_buffer_release(req);
  if (err) return web_send_error(req, status, err);
  static const char kOk[] = "{\"success\":true}";
  web_send_json(req, 200, kOk, sizeof kOk - 1);
}

static void handle_gc(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  uint32_t deleted = 0, bytes_freed = 0;
  icon_store_gc(&deleted, &bytes_freed);
  JsonDocument doc = make_json_doc_psram();
  doc["success"] = true;
  doc["deleted"] = deleted;
  doc["bytes_freed"] = bytes_freed;
  web_send_doc(req, 200, doc);
}

void routes_icons(AsyncWebServer &server) {
  server.on("/api/icons/installed", HTTP_GET, handle_installed);
  server.on("/api/icons/install", HTTP_POST, handle_install, nullptr,
            [](AsyncWebServerRequest *req, uint8_t *data, size_t len, size_t index, size_t total) {
              body_buffer_collect(req, data, len, index, total);
            });
  server.on("/api/icons/gc", HTTP_POST, handle_gc);
  server.on("/api/icons", HTTP_GET, handle_list);
}
