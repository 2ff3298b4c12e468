#include "icon_store.h"

#include <string.h>

#include "macro_store.h"
#include "psram_alloc.h"

struct Slot {
  char id[ICON_ID_LEN];
  uint8_t *pixels;  // PSRAM, ICON_BYTES
};

static Slot s_slots[ICON_SLOTS];

static Slot *find(const char *id) {
  for (Slot &s : s_slots)
    if (s.pixels && strncmp(s.id, id, ICON_ID_LEN) == 0) return &s;
  return nullptr;
}

void icon_store_begin() {
  static const char *const kBuiltin[] = {"play", "pause", "mute", "light", "fan", "door"};
  for (const char *id : kBuiltin) icon_store_ensure(id);
}

bool icon_store_ensure(const char *id) {
  if (id == nullptr || id[0] == '\0' || strlen(id) >= ICON_ID_LEN) return false;
  if (find(id)) return true;
  for (Slot &s : s_slots) {
    if (s.pixels) continue;
    s.pixels = static_cast<uint8_t *>(psram_prefer_malloc(ICON_BYTES));
    if (!s.pixels) return false;
    strncpy(s.id, id, ICON_ID_LEN - 1);
    s.id[ICON_ID_LEN - 1] = '\0';
    // "render": a deterministic pattern stands in for decoded image data
    for (size_t i = 0; i < ICON_BYTES; i++) s.pixels[i] = (uint8_t)(i * 31u + (uint8_t)id[0]);
    return true;
  }
  return false;
}

size_t icon_store_count() {
  size_t n = 0;
  for (const Slot &s : s_slots) n += s.pixels ? 1 : 0;
  return n;
}

bool icon_store_get(size_t index, IconInfo *out) {
  size_t n = 0;
  for (const Slot &s : s_slots) {
    if (!s.pixels) continue;
    if (n++ == index) {
      memcpy(out->id, s.id, ICON_ID_LEN);
      out->bytes = ICON_BYTES;
      return true;
    }
  }
  return false;
}

size_t icon_store_gc() {
  size_t removed = 0;
  for (Slot &s : s_slots) {
    if (!s.pixels || macro_store_references_icon(s.id)) continue;
    psram_free(s.pixels);
    s.pixels = nullptr;
    s.id[0] = '\0';
    removed++;
  }
  return removed;
}
