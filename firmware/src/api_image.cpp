// The image API routes (device-api.md §8): POST /api/display/image
// (multipart, one file part, any field name), POST
// /api/display/image/strips, DELETE /api/display/image. One full upload at a
// time: its body goes straight into a PSRAM-first buffer sized from the
// request's Content-Length; the preflight runs when the body is complete.
#include <esp_heap_caps.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body_buffer.h"
#include "display_screens.h"
#include "image_api.h"
#include "jpeg_preflight.h"
#include "json_psram.h"
#include "logger.h"
#include "mem_telemetry.h"
#include "psram_alloc.h"
#include "web_server.h"

// The one upload in progress (async_tcp task only).
static AsyncWebServerRequest *s_owner;
static uint8_t *s_buf;
static size_t s_cap, s_len;
static int s_status;          // 0 = fine so far
static const char *s_message;

static void upload_reset() {
  if (s_buf) psram_free(s_buf);
  s_owner = nullptr;
  s_buf = nullptr;
  s_cap = s_len = 0;
  s_status = 0;
  s_message = nullptr;
}

static void fail(int status, const char *message) {
  if (s_status == 0) {
    s_status = status;
    s_message = message;
  }
}

static void upload_begin(AsyncWebServerRequest *req) {
  s_owner = req;
  size_t total = req->contentLength();
  log_msg(0, "Image Upload", "Starting...", LOG_NO_ELAPSED);
  log_msgf(2, nullptr, LOG_NO_ELAPSED, "Total size: %u bytes", (unsigned)total);
  if (total > IMAGE_MAX_UPLOAD_BYTES) return fail(400, "Image too large");
  if (image_api_pending()) return fail(409, "Upload busy");
  mem_snapshot_request("img pre-clear");
  mem_snapshot_request("img post-clear");
  if (heap_caps_get_free_size(MALLOC_CAP_INTERNAL) < IMAGE_UPLOAD_INTERNAL_RESERVE) {
    mem_snapshot_request("img insufficient");
    return fail(507, "Insufficient internal memory for image upload");
  }
  mem_snapshot_request("img pre-alloc");
  s_buf = static_cast<uint8_t *>(psram_prefer_malloc(total));
  if (!s_buf) {
    mem_snapshot_request("img alloc-fail");
    return fail(507, "Memory allocation failed");
  }
  s_cap = total;
  mem_snapshot_request("img post-alloc");
}

static void on_upload(AsyncWebServerRequest *req, const String &, size_t index, uint8_t *data, size_t len, bool) {
  if (!web_authorized(req)) return;
  if (index == 0) {
    if (s_owner != nullptr && s_owner != req) return;  // busy: answered in on_request
    upload_reset();
    upload_begin(req);
    if (s_status == 0 && !jpeg_has_magic(data, len)) fail(400, "Invalid JPEG file");
  }
  if (s_owner != req || s_status != 0) return;
  if (s_len + len > s_cap) return fail(400, "Image too large");
  memcpy(s_buf + s_len, data, len);
  s_len += len;
}

static void on_request(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  if (s_owner != req) {
    if (req->contentLength() == 0) return web_send_error(req, 400, "No data received");
    return web_send_error(req, 409, "Upload busy");
  }
  static char text[96];
  const char *err = s_status ? s_message : (s_len == 0 ? "No data received" : nullptr);
  int status = s_status ? s_status : 400;
  if (!err) err = jpeg_preflight_full(s_buf, s_len, text, sizeof text);
  if (err) {
    web_send_error(req, status, err);
    return upload_reset();
  }
  uint32_t timeout = IMAGE_DEFAULT_TIMEOUT_S;
  if (req->hasParam("timeout")) timeout = (uint32_t)strtoul(req->getParam("timeout")->value().c_str(), nullptr, 10);
  if (timeout > IMAGE_MAX_TIMEOUT_S) timeout = IMAGE_MAX_TIMEOUT_S;
  if (!image_api_queue(s_buf, s_len, timeout)) {
    web_send_error(req, 409, "Upload busy");
    return upload_reset();
  }
  s_buf = nullptr;  // the queue owns it now
  upload_reset();
  log_msg(2, nullptr, "Image queued for display", 0);
  char message[64];
  snprintf(message, sizeof message, "Image queued for display (%us timeout)", (unsigned)timeout);
  web_send_success(req, message);
}

static void on_dismiss(AsyncWebServerRequest *req) {
  if (!web_authorized(req)) return;
  image_api_request_dismiss();
  web_send_success(req, "Image dismiss queued");
}

static bool param_u32(AsyncWebServerRequest *req, const char *name, uint32_t *out) {
  if (!req->hasParam(name)) return false;
  *out = (uint32_t)strtoul(req->getParam(name)->value().c_str(), nullptr, 10);
  return true;
}

static void on_strip(AsyncWebServerRequest *req) {
  uint32_t index, count, width, height, timeout = IMAGE_DEFAULT_TIMEOUT_S;
  if (!param_u32(req, "strip_index", &index) || !param_u32(req, "strip_count", &count) ||
      !param_u32(req, "width", &width) || !param_u32(req, "height", &height)) {
    body_buffer_release(req);
    return web_send_error(req, 400, "Missing required parameters: strip_index, strip_count, width, height");
  }
  param_u32(req, "timeout", &timeout);  // strip 0's counts, not capped
  if (width < 1 || width > DISPLAY_SIDE || height < 1 || height > DISPLAY_SIDE) {
    body_buffer_release(req);
    return web_send_error(req, 400, "Invalid image dimensions");
  }
  if (index >= count) {
    body_buffer_release(req);
    return web_send_error(req, 400, "Invalid strip index");
  }
  if (!web_authorized(req)) return body_buffer_release(req);
  size_t len = 0;
  char *body = body_buffer_take(req, &len);
  if (!body) return;
  const char *msg = nullptr;
  int status = image_api_strip(index, count, (uint16_t)width, (uint16_t)height, timeout,
                               reinterpret_cast<const uint8_t *>(body), len, &msg);
  body_buffer_release(req);
  if (status) return web_send_error(req, status, msg);
  JsonDocument out = make_json_doc_psram();
  out["success"] = true;
  out["strip_index"] = index;
  out["strip_count"] = count;
  out["complete"] = index + 1 == count;
  web_send_doc(req, 200, out);
}

void routes_image(AsyncWebServer &server) {
  server.on("/api/display/image/strips", HTTP_POST, on_strip, nullptr,
            [](AsyncWebServerRequest *req, uint8_t *data, size_t len, size_t index, size_t total) {
              body_buffer_collect(req, data, len, index, total);
            });
  server.on("/api/display/image", HTTP_POST, on_request, on_upload);
  server.on("/api/display/image", HTTP_DELETE, on_dismiss);
}
