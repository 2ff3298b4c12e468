#include "image_api.h"
#include "ota_state.h"

#include <Arduino.h>
#include <esp_heap_caps.h>
#include <freertos/FreeRTOS.h>
#include <string.h>
#if __has_include(<esp32s3/rom/tjpgd.h>)
#include <esp32s3/rom/tjpgd.h>
#else
#include <rom/tjpgd.h>
#endif

#include "display_screens.h"
#include "jpeg_preflight.h"
#include "logger.h"
#include "mem_telemetry.h"
#include "psram_alloc.h"

static constexpr size_t DECODER_POOL_BYTES = 3100;  // TJpgDec work area

struct Frame {
  uint8_t *pixels;  // RGB565, PSRAM first
  uint16_t width, height;
};

// Shared with the async_tcp task: guarded by s_mux.
static portMUX_TYPE s_mux = portMUX_INITIALIZER_UNLOCKED;
static uint8_t *s_pending;
static size_t s_pending_len;
static uint32_t s_pending_timeout_s;
static bool s_dismiss_requested;
static uint8_t *s_strip;  // one strip waiting for the loop
static size_t s_strip_len;
static bool s_strip_last;

// Main loop (and strip 0 from the handler, before any strip is queued).
static Frame s_shown;
static Frame s_strip_frame;
static uint32_t s_next_strip, s_strip_count, s_strip_rows, s_strip_timeout_s;
static uint32_t s_dismiss_at_ms;  // 0 = no timeout

struct DecodeTarget {
  const uint8_t *src;
  size_t len, at;
  Frame *frame;
  uint16_t y0;  // rows already filled (strips)
};

static unsigned int jd_input(JDEC *jd, uint8_t *buf, unsigned int n) {
  DecodeTarget *t = static_cast<DecodeTarget *>(jd->device);
  size_t left = t->len - t->at;
  if (n > left) n = (unsigned int)left;
  if (buf) memcpy(buf, t->src + t->at, n);
  t->at += n;
  return n;
}

// TJpgDec hands out RGB888 blocks; store them as RGB565.
static unsigned int jd_output(JDEC *jd, void *bitmap, JRECT *r) {
  DecodeTarget *t = static_cast<DecodeTarget *>(jd->device);
  const uint8_t *rgb = static_cast<const uint8_t *>(bitmap);
  for (unsigned y = r->top; y <= r->bottom; y++) {
    unsigned row = t->y0 + y;
    if (row >= t->frame->height) return 1;
    for (unsigned x = r->left; x <= r->right && x < t->frame->width; x++, rgb += 3) {
      uint16_t px = (uint16_t)((rgb[0] & 0xF8) << 8 | (rgb[1] & 0xFC) << 3 | rgb[2] >> 3);
      size_t at = ((size_t)row * t->frame->width + x) * 2;
      t->frame->pixels[at] = (uint8_t)(px >> 8);
      t->frame->pixels[at + 1] = (uint8_t)px;
    }
  }
  return 1;
}

static bool decode(const uint8_t *src, size_t len, Frame *frame, uint16_t y0) {
  void *pool = psram_prefer_malloc(DECODER_POOL_BYTES);
  if (!pool) return false;
  DecodeTarget t = {src, len, 0, frame, y0};
  JDEC jd;
  bool ok = jd_prepare(&jd, jd_input, pool, DECODER_POOL_BYTES, &t) == JDR_OK && jd_decomp(&jd, jd_output, 0) == JDR_OK;
  psram_free(pool);
  return ok;
}

static void free_frame(Frame *f) {
  if (f->pixels) psram_free(f->pixels);
  *f = Frame{nullptr, 0, 0};
}

void image_api_begin() {}

bool image_api_queue(uint8_t *buf, size_t len, uint32_t timeout_s) {
  bool queued = false;
  portENTER_CRITICAL(&s_mux);
  if (s_pending == nullptr) {
    s_pending = buf;
    s_pending_len = len;
    s_pending_timeout_s = timeout_s;
    queued = true;
  }
  portEXIT_CRITICAL(&s_mux);
  return queued;
}

bool image_api_pending() { return s_pending != nullptr; }

void image_api_request_dismiss() { s_dismiss_requested = true; }

static void show(Frame *f, uint32_t timeout_s) {
  free_frame(&s_shown);
  s_shown = *f;
  *f = Frame{nullptr, 0, 0};
  s_dismiss_at_ms = timeout_s ? millis() + timeout_s * 1000u : 0;
  if (s_dismiss_at_ms == 0 && timeout_s) s_dismiss_at_ms = 1;
  display_image_shown();
}

static void process_pending() {
  portENTER_CRITICAL(&s_mux);
  uint8_t *buf = s_pending;
  size_t len = s_pending_len;
  uint32_t timeout_s = s_pending_timeout_s;
  portEXIT_CRITICAL(&s_mux);
  if (!buf) return;
  log_msgf(0, "Portal", 0, "Processing pending image (%u bytes)", (unsigned)len);
  mem_snapshot_emit("img pre-decode");
  Frame f = {static_cast<uint8_t *>(psram_prefer_malloc((size_t)DISPLAY_SIDE * DISPLAY_SIDE * 2)), DISPLAY_SIDE,
             DISPLAY_SIDE};
  bool ok = f.pixels && decode(buf, len, &f, 0);
  psram_free(buf);
  portENTER_CRITICAL(&s_mux);
  s_pending = nullptr;
  portEXIT_CRITICAL(&s_mux);
  if (!ok) {
    free_frame(&f);
    mem_snapshot_emit("img decode-fail");
    return;
  }
  show(&f, timeout_s);
  mem_snapshot_emit("img post-decode");
}

static void dismiss() {
  if (!s_shown.pixels) return;
  log_msg(0, "Portal", "Image dismiss requested", 0);
  free_frame(&s_shown);
  s_dismiss_at_ms = 0;
  display_image_dismissed();
  mem_snapshot_emit("img dismiss");
}

void image_api_drop_cover() {
  free_frame(&s_shown);
  s_dismiss_at_ms = 0;
}

static void process_strip() {
  portENTER_CRITICAL(&s_mux);
  uint8_t *buf = s_strip;
  size_t len = s_strip_len;
  bool last = s_strip_last;
  portEXIT_CRITICAL(&s_mux);
  if (!buf) return;
  JpegFrame info = {0, 0, 0};
  char msg[8];
  jpeg_preflight(buf, len, &info, msg, sizeof msg);
  bool ok = s_strip_frame.pixels && decode(buf, len, &s_strip_frame, (uint16_t)s_strip_rows);
  s_strip_rows += info.height;
  psram_free(buf);
  portENTER_CRITICAL(&s_mux);
  s_strip = nullptr;
  portEXIT_CRITICAL(&s_mux);
  if (!ok) {
    mem_snapshot_emit("strip decode-fail");
    free_frame(&s_strip_frame);
    return;
  }
  if (last) {
    show(&s_strip_frame, s_strip_timeout_s);
    mem_snapshot_emit("strip post-decode");
  }
}

void image_api_loop() {
  if (ota_in_progress()) return;  // flash writes first, as on the team's device
  process_pending();
  process_strip();
  bool timed_out = s_dismiss_at_ms && (int32_t)(millis() - s_dismiss_at_ms) >= 0;
  if (s_dismiss_requested || timed_out) {
    s_dismiss_requested = false;
    dismiss();
  }
}

// Strip 0 starts a frame for the whole image; later strips must come in
// order. The strip is copied (PSRAM first) for the loop to decode.
int image_api_strip(uint32_t index, uint32_t count, uint16_t width, uint16_t height, uint32_t timeout_s,
                    const uint8_t *data, size_t len, const char **msg) {
  static char text[96];
  if (s_strip != nullptr) {
    *msg = "Busy";  // the previous strip is not decoded yet: retry
    return 409;
  }
  if (index == 0) {
    free_frame(&s_strip_frame);
    mem_snapshot_request("strip pre-alloc");
    uint8_t *px = static_cast<uint8_t *>(psram_prefer_malloc((size_t)width * height * 2));
    if (!px) {
      mem_snapshot_request("strip alloc-fail");
      *msg = "Out of memory";
      return 507;
    }
    s_strip_frame = Frame{px, width, height};
    s_next_strip = 0;
    s_strip_count = count;
    s_strip_rows = 0;
    s_strip_timeout_s = timeout_s;
    mem_snapshot_request("strip pre-decode");
  }
  if (!s_strip_frame.pixels || index != s_next_strip || count != s_strip_count) {
    *msg = "Invalid strip index";
    return 400;
  }
  if (!jpeg_has_magic(data, len)) {
    *msg = "Invalid JPEG data";
    return 400;
  }
  const char *err = jpeg_preflight_strip(data, len, width, height, text, sizeof text);
  if (err) {
    *msg = err;
    return 400;
  }
  uint8_t *copy = static_cast<uint8_t *>(psram_prefer_malloc(len));
  if (!copy) {
    *msg = "Out of memory";
    return 507;
  }
  memcpy(copy, data, len);
  s_next_strip++;
  portENTER_CRITICAL(&s_mux);
  s_strip = copy;
  s_strip_len = len;
  s_strip_last = index + 1 == count;
  portEXIT_CRITICAL(&s_mux);
  log_msgf(0, "Strip", LOG_NO_ELAPSED, "Strip %u/%u queued for decode", (unsigned)index, (unsigned)(count - 1));
  return 0;
}
