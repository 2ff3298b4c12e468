// A small icon cache: fixed slot table (internal, tiny), pixel data in PSRAM.
#pragma once
#include <stddef.h>
#include <stdint.h>

constexpr size_t ICON_SLOTS = 32;
constexpr size_t ICON_ID_LEN = 24;
constexpr size_t ICON_BYTES = 48 * 48 * 2;  // one RGB565 48x48 icon

struct IconInfo {
  char id[ICON_ID_LEN];
  uint32_t bytes;
};

void icon_store_begin();  // seeds the built-in icons
// Loads (renders) an icon if it is not cached yet. False when full / no PSRAM.
bool icon_store_ensure(const char *id);
size_t icon_store_count();
bool icon_store_get(size_t index, IconInfo *out);  // false past the end
// Frees every icon no macro references. Returns how many were removed.
size_t icon_store_gc();
