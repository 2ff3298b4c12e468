// Screen switching (this board has no panel: a screen is its PSRAM frame
// buffer). Switches are requested from HTTP handlers and performed in the
// main loop between "lvgl_switch_pre_<screen>" and "lvgl_switch_post_<screen>"
// snapshots.
#pragma once
#include <stddef.h>

constexpr size_t SCREEN_ID_LEN = 24;

void display_screens_begin();
// Validates (letters, digits, '_' and '-', at most 23 chars) and queues.
bool display_request_screen(const char *id);
void display_screens_loop();
const char *display_current_screen();
