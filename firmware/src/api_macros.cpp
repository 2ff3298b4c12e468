// GET|POST /api/macros (device-api.md §5). The body is parsed into a PSRAM
// JsonDocument, checked in the device's order (its 400 messages), saved and
// applied; tags http_macros_post_begin/parsed/saved/applied (and
// _parse_fail/_save_fail) are queued for the main loop.
#include "body_buffer.h"
#include "json_psram.h"
#include "logger.h"
#include "macro_store.h"
#include "mem_telemetry.h"
#include "psram_alloc.h"
#include "web_server.h"

static void handle_get(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  size_t len = 0;
  const char *json = macro_store_json(&len);  // stable PSRAM buffer
  web_send_json(req, 200, json, len);
}

static void handle_post(AsyncWebServerRequest *req) {
  mem_snapshot_request("http_macros_post_begin");
  JsonDocument doc = make_json_doc_psram();
  DeserializationError err;
  if (!web_parse_json_body(req, doc, &err)) return;
  if (err) {
    log_msgf(0, "Macros", LOG_NO_ELAPSED, "JSON parse error: %s", err.c_str());
    mem_snapshot_request("http_macros_post_parse_fail");
    if (err == DeserializationError::NoMemory) {
      web_send_error(req, 413, "JSON body too large");
    } else {
      web_send_error(req, 400, "Invalid JSON");
    }
    return;
  }
  mem_snapshot_request("http_macros_post_parsed");
  // The candidate lives in PSRAM (too big for the async_tcp stack).
  MacroConfig *next = static_cast<MacroConfig *>(psram_prefer_malloc(sizeof(MacroConfig)));
  if (next == nullptr) {
    web_send_error(req, 500, "Out of memory");
    return;
  }
  const char *invalid = macro_config_from_json(doc.as<JsonVariantConst>(), next);
  if (invalid) {
    psram_free(next);
    web_send_error(req, 400, invalid);
    return;
  }
  bool saved = macro_store_apply(*next);
  psram_free(next);
  if (!saved) {
    mem_snapshot_request("http_macros_post_save_fail");
    web_send_error(req, 500, "Failed to save");
    return;
  }
  mem_snapshot_request("http_macros_post_saved");
  mem_snapshot_request("http_macros_post_applied");
  static const char kOk[] = "{\"success\":true}\n";
  web_send_json(req, 200, kOk, sizeof kOk - 1);
}

void routes_macros(AsyncWebServer &server) {
  server.on("/api/macros", HTTP_GET, handle_get);
  server.on("/api/macros", HTTP_POST, handle_post, nullptr,
            [](AsyncWebServerRequest *req, uint8_t *data, size_t len, size_t index, size_t total) {
              body_buffer_collect(req, data, len, index, total);
            });
}
