#include "body_buffer.h"

#include <Arduino.h>
#include <ESPAsyncWebServer.h>

#include "scratch_buffer.h"

static ScratchBuffer s_body(BODY_MAX_BYTES);
static AsyncWebServerRequest *s_owner;
static uint32_t s_claimed_ms;
static bool s_overflow;
static bool s_complete;

static constexpr uint32_t STALE_MS = 10000;  // an abandoned upload frees the slot

void body_buffer_begin() { s_body.begin(); }

void body_buffer_collect(AsyncWebServerRequest *req, const uint8_t *data, size_t len, size_t index, size_t total) {
  if (index == 0) {
    if (s_owner != nullptr && s_owner != req && millis() - s_claimed_ms < STALE_MS) return;  // busy
    s_owner = req;
    s_claimed_ms = millis();
    s_overflow = total > s_body.capacity();
    s_complete = false;
    s_body.clear();
  }
  if (s_owner != req || s_overflow) return;
  if (!s_body.write_at(index, data, len)) {
    s_overflow = true;
    return;
  }
  if (index + len >= total) s_complete = true;
}

char *body_buffer_take(AsyncWebServerRequest *req, size_t *len) {
  if (s_owner != req) {
    if (req->contentLength() == 0) {
      req->send(400, "application/json", "{\"error\":\"empty body\"}");
    } else {
      req->send(503, "application/json", "{\"error\":\"another upload is in progress\"}");
    }
    return nullptr;
  }
  if (s_overflow) {
    req->send(413, "application/json", "{\"error\":\"body too large\"}");
    body_buffer_release(req);
    return nullptr;
  }
  if (!s_complete) {
    req->send(400, "application/json", "{\"error\":\"incomplete body\"}");
    body_buffer_release(req);
    return nullptr;
  }
  *len = s_body.size();
  return s_body.data();
}

void body_buffer_release(AsyncWebServerRequest *req) {
  if (s_owner == req) {
    s_owner = nullptr;
    s_body.clear();
  }
}
