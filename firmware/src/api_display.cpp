// PUT /api/display/screen {"screen": id} - the switch itself runs in loop().
#include <stdio.h>

#include "body_buffer.h"
#include "display_screens.h"
#include "json_psram.h"
#include "web_server.h"

static void handle_put(AsyncWebServerRequest *req) {
  JsonDocument doc = make_json_doc_psram();
  DeserializationError err;
  if (!web_parse_json_body(req, doc, &err)) return;
  char id[SCREEN_ID_LEN] = "";
  if (!err) {
    JsonVariantConst v = doc["screen"];
    if (v.is<const char *>()) {
      snprintf(id, sizeof id, "%s", v.as<const char *>());
    } else if (v.is<long>()) {
      snprintf(id, sizeof id, "%ld", v.as<long>());
    }
  }
  if (!display_request_screen(id)) {
    req->send(400, "application/json", "{\"error\":\"expected {\\\"screen\\\": id} ([A-Za-z0-9_-], max 23)\"}");
    return;
  }
  JsonDocument out = make_json_doc_psram();
  out["screen"] = id;
  out["queued"] = true;
  web_send_doc(req, 202, out);
}

void routes_display(AsyncWebServer &server) {
  server.on("/api/display/screen", HTTP_PUT, handle_put, nullptr,
            [](AsyncWebServerRequest *req, uint8_t *data, size_t len, size_t index, size_t total) {
              body_buffer_collect(req, data, len, index, total);
            });
}
