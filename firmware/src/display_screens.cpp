#include "display_screens.h"

#include <freertos/FreeRTOS.h>
#include <stdio.h>
#include <string.h>

#include "device_config.h"
#include "image_api.h"
#include "logger.h"
#include "mem_telemetry.h"
#include "psram_alloc.h"

static constexpr size_t FRAME_BYTES = (size_t)DISPLAY_SIDE * DISPLAY_SIDE * 2;  // one RGB565 frame

struct ScreenDef {
  const char *id;
  const char *name;
};
static const ScreenDef kScreens[] = {
    {"macro1", "Macro 1"}, {"macro2", "Macro 2"}, {"macro3", "Macro 3"},      {"macro4", "Macro 4"},
    {"macro5", "Macro 5"}, {"macro6", "Macro 6"}, {"macro7", "Macro 7"},      {"macro8", "Macro 8"},
    {"info", "Info Screen"}, {"test", "Test Screen"}, {"error", "Error"}, {"lvgl_image", "LVGL Image"},
};
static constexpr size_t kScreenCount = sizeof kScreens / sizeof kScreens[0];

static char s_current[SCREEN_ID_LEN] = "macro1";
static bool s_image_cover;
static char s_pending[SCREEN_ID_LEN];
static bool s_has_pending;
static portMUX_TYPE s_mux = portMUX_INITIALIZER_UNLOCKED;
static uint8_t *s_frame;  // allocated once: screens reuse it (no churn)
static uint8_t s_sleep_state;  // 0 Awake, 2 Asleep
static uint8_t s_brightness;

size_t display_screen_count() { return kScreenCount; }
const char *display_screen_id(size_t i) { return i < kScreenCount ? kScreens[i].id : ""; }
const char *display_screen_name(size_t i) { return i < kScreenCount ? kScreens[i].name : ""; }

void display_screens_begin() {
  if (!s_frame) s_frame = static_cast<uint8_t *>(psram_malloc_or_die(FRAME_BYTES));
  memset(s_frame, 0, FRAME_BYTES);
  s_brightness = device_config().backlight_brightness;
}

bool display_request_screen(const char *id) {
  bool known = false;
  for (const ScreenDef &s : kScreens) known = known || strcmp(s.id, id) == 0;
  if (!known) return false;
  portENTER_CRITICAL(&s_mux);
  strncpy(s_pending, id, SCREEN_ID_LEN - 1);
  s_pending[SCREEN_ID_LEN - 1] = '\0';
  s_has_pending = true;
  portEXIT_CRITICAL(&s_mux);
  log_msgf(0, "Display", LOG_NO_ELAPSED, "Queued switch to screen: %s", id);
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
  if (s_image_cover) image_api_drop_cover();  // a switch replaces a shown image
  s_image_cover = false;
  // "draw" the new screen into the reused frame buffer
  uint8_t seed = (uint8_t)next[0];
  for (size_t i = 0; i < FRAME_BYTES; i += 64) s_frame[i] = (uint8_t)(seed + i);
  memcpy(s_current, next, SCREEN_ID_LEN);
  display_activity(true);  // a switch counts as wake activity
  log_msgf(0, "Display", LOG_NO_ELAPSED, "Switched to %s", next);
  snprintf(tag, sizeof tag, "lvgl_switch_post_%s", next);
  mem_snapshot_emit(tag);
}

const char *display_current_screen() { return s_image_cover ? nullptr : s_current; }

void display_apply_brightness(uint8_t percent, bool from_config) {
  if (percent > 100) percent = 100;
  if (from_config) log_msgf(0, nullptr, LOG_NO_ELAPSED, "Config: Backlight brightness set to %u%%", percent);
  s_brightness = percent;
  s_sleep_state = 0;
}

void display_sleep() {
  log_msg(0, "ScreenSaver", "Sleep requested", 0);
  s_sleep_state = 2;
}

void display_wake() {
  log_msg(0, "ScreenSaver", "Wake requested", 0);
  s_sleep_state = 0;
}

void display_activity(bool wake) {
  if (wake) s_sleep_state = 0;
}

uint8_t display_sleep_state() { return s_sleep_state; }
uint8_t display_current_brightness() { return s_sleep_state == 0 ? s_brightness : 0; }

void display_image_shown() {
  s_image_cover = true;
  s_sleep_state = 0;
}

void display_image_dismissed() {
  s_image_cover = false;
  log_msgf(0, "Display", LOG_NO_ELAPSED, "Switched to %s", s_current);
}
