// GET /api/icons, POST /api/icons/gc - no on-stack keep-set: the GC asks the
// macro store about each icon (the S6 async_tcp stack overflow fix).
#include "icon_store.h"
#include "json_psram.h"
#include "web_server.h"

static void handle_list(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  JsonDocument doc = make_json_doc_psram();
  JsonArray icons = doc["icons"].to<JsonArray>();
  IconInfo info;
  for (size_t i = 0; icon_store_get(i, &info); i++) {
    JsonObject o = icons.add<JsonObject>();
    o["id"] = (const char *)info.id;  // const char*: copied into the (PSRAM) document
    o["bytes"] = info.bytes;
  }
  doc["count"] = icons.size();
  web_send_doc(req, 200, doc);
}

static void handle_gc(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  size_t removed = icon_store_gc();
  JsonDocument doc = make_json_doc_psram();
  doc["removed"] = removed;
  doc["kept"] = icon_store_count();
  web_send_doc(req, 200, doc);
}

void routes_icons(AsyncWebServer &server) {
  server.on("/api/icons/gc", HTTP_POST, handle_gc);
  server.on("/api/icons", HTTP_GET, handle_list);
}
