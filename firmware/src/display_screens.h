// Screens, backlight and screen saver (device-api.md §7). This board has no
// panel: a screen is drawn into one reused PSRAM frame buffer and the
// backlight is a number. Switches are requested from HTTP handlers and
// performed in the main loop between "lvgl_switch_pre_<id>" and
// "lvgl_switch_post_<id>" snapshots. A decoded image (image_api) covers the
// current screen until it is dismissed or a switch replaces it.
#pragma once
#include <stddef.h>
#include <stdint.h>

constexpr uint16_t DISPLAY_SIDE = 360;
constexpr size_t SCREEN_ID_LEN = 24;

// The available_screens of /api/info: macro1..macro8, info, test, error, lvgl_image.
size_t display_screen_count();
const char *display_screen_id(size_t i);
const char *display_screen_name(size_t i);

void display_screens_begin();  // frame buffer, first screen "macro1"
// Queues a switch to a known id; false when no such screen (404).
bool display_request_screen(const char *id);
void display_screens_loop();
// The screen shown, nullptr while a direct image covers it.
const char *display_current_screen();

// Backlight and screen saver (state 0 Awake, 2 Asleep; fades are instant).
void display_apply_brightness(uint8_t percent, bool from_config);
void display_sleep();
void display_wake();
void display_activity(bool wake);
uint8_t display_sleep_state();
uint8_t display_current_brightness();

// Image cover: shown over the current screen / dismissed back to it.
void display_image_shown();
void display_image_dismissed();
