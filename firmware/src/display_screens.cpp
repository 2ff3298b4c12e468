#include "display_screens.h"

#include <freertos/FreeRTOS.h>
#include <stdio.h>
#include <string.h>

#include "mem_telemetry.h"
#include "psram_alloc.h"

static constexpr size_t FRAME_BYTES = 240 * 240 * 2;  // one RGB565 frame

static char s_current[SCREEN_ID_LEN] = "home";
static char s_pending[SCREEN_ID_LEN];
static bool s_has_pending;
static portMUX_TYPE s_mux = portMUX_INITIALIZER_UNLOCKED;
static uint8_t *s_frame;  // allocated once: screens reuse it (no churn)

void display_screens_begin() {
  if (!s_frame) s_frame = static_cast<uint8_t *>(psram_malloc_or_die(FRAME_BYTES));
  memset(s_frame, 0, FRAME_BYTES);
}

static bool valid_id(const char *id) {
  size_t n = 0;
  for (; id[n] != '\0'; n++) {
    char c = id[n];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok || n + 1 >= SCREEN_ID_LEN) return false;
  }
  return n > 0;
}

bool display_request_screen(const char *id) {
  if (id == nullptr || !valid_id(id)) return false;
  portENTER_CRITICAL(&s_mux);
  strncpy(s_pending, id, SCREEN_ID_LEN - 1);
  s_pending[SCREEN_ID_LEN - 1] = '\0';
  s_has_pending = true;
  portEXIT_CRITICAL(&s_mux);
  return true;
}

void display_screens_loop() {
  char next[SCREEN_ID_LEN];
  bool has = false;
  portENTER_CRITICAL(&s_mux);
  if (s_has_pending) {
    memcpy(next, s_pending, SCREEN_ID_LEN);
    s_has_pending = false;
    has = true;
  }
  portEXIT_CRITICAL(&s_mux);
  if (!has) return;

  char tag[16 + SCREEN_ID_LEN];
  snprintf(tag, sizeof tag, "lvgl_switch_pre_%s", next);
  mem_snapshot_emit(tag);
  // "draw" the new screen into the reused frame buffer
  uint8_t seed = (uint8_t)next[0];
  for (size_t i = 0; i < FRAME_BYTES; i += 64) s_frame[i] = (uint8_t)(seed + i);
  memcpy(s_current, next, SCREEN_ID_LEN);
  snprintf(tag, sizeof tag, "lvgl_switch_post_%s", next);
  mem_snapshot_emit(tag);
}

const char *display_current_screen() { return s_current; }
