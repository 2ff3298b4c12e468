#include "icon_store.h"

#include <FFat.h>
#include <stdio.h>
#include <string.h>

#include "macro_store.h"

static const char *const kBuiltin[] = {
    "add",     "arrow_back", "arrow_forward", "bolt",       "brightness_high", "check",
    "close",   "code",       "content_copy",  "content_paste", "home",         "info",
    "lightbulb", "lock",     "mic",           "mic_off",    "pause",           "play_arrow",
    "power_settings_new", "refresh", "settings", "skip_next", "volume_off",    "volume_up",
};

size_t icon_builtin_count() { return sizeof kBuiltin / sizeof kBuiltin[0]; }
const char *icon_builtin_id(size_t i) { return i < icon_builtin_count() ? kBuiltin[i] : ""; }

static bool s_tried, s_mounted;

bool icon_store_available() {
  if (!s_tried) {
    s_tried = true;
    s_mounted = FFat.begin(false);  // never format: no partition -> false
  }
  return s_mounted;
}

void icon_store_list(JsonArray out) {
  if (!icon_store_available()) return;
  File dir = FFat.open("/icons");
  if (!dir || !dir.isDirectory()) return;
  for (File f = dir.openNextFile(); f; f = dir.openNextFile()) {
    char id[40];
    const char *name = f.name();
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    size_t n = strlen(base);
    if (n < 5 || n - 4 >= sizeof id || strcmp(base + n - 4, ".bin") != 0) continue;
    memcpy(id, base, n - 4);
    id[n - 4] = '\0';
    JsonObject o = out.add<JsonObject>();
    o["id"] = (const char *)id;
    o["kind"] = "color";
  }
}

static uint32_t le(const uint8_t *p, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

const char *icon_store_check_blob(const uint8_t *b, size_t len) {
  if (len == 0 || len > ICON_BLOB_MAX_BYTES) return "Invalid body size";
  if (len < 16) return "Invalid blob";
  if (memcmp(b, "ICN1", 4) != 0) return "Bad magic";
  uint32_t w = le(b + 4, 2), h = le(b + 6, 2);
  if (b[8] != 1) return "Unsupported format";
  if (w < 1 || w > 256 || h < 1 || h > 256) return "Invalid dimensions";
  uint32_t data_len = le(b + 12, 4);
  if (data_len != w * h * 3) return "Unexpected payload size";
  if (len != 16 + data_len) return "Blob length mismatch";
  return nullptr;
}

static bool valid_id(const char *id) {
  size_t n = 0;
  for (; id[n]; n++) {
    char c = id[n];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return n > 0 && n <= 31;
}

const char *icon_store_install(const char *id, const uint8_t *blob, size_t len, int *status) {
  *status = 400;
  if (id == nullptr || id[0] == '\0') return "Missing id";
  if (!valid_id(id)) return "Invalid icon id (expected [a-z0-9_]+)";
  if (!icon_store_available()) return "FFat not available on this partition scheme";
  const char *bad = icon_store_check_blob(blob, len);
  if (bad) return bad;
  if (!FFat.exists("/icons")) FFat.mkdir("/icons");
  char path[48];
  snprintf(path, sizeof path, "/icons/%s.bin", id);
  File f = FFat.open(path, FILE_WRITE);
  if (!f) return "Failed to open file for writing";
  size_t written = f.write(blob, len);
  f.close();
  return written == len ? nullptr : "Short write";
}

void icon_store_gc(uint32_t *deleted, uint32_t *bytes_freed) {
  *deleted = *bytes_freed = 0;
  if (!icon_store_available()) return;
  File dir = FFat.open("/icons");
  if (!dir || !dir.isDirectory()) return;
  // Collect first, delete after: no deletes while the directory is open.
  static char doomed[32][48];  // not on the async_tcp stack (the S6 overflow)
  static uint32_t sizes[32];
  size_t n = 0;
  for (File f = dir.openNextFile(); f && n < 32; f = dir.openNextFile()) {
    const char *name = f.name();
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    bool collectable = strncmp(base, "emoji_", 6) == 0 || strncmp(base, "user_", 5) == 0;
    char id[40];
    size_t len = strlen(base);
    if (!collectable || len < 5 || len - 4 >= sizeof id) continue;
    memcpy(id, base, len - 4);
    id[len - 4] = '\0';
    if (macro_config_uses_icon(macro_store_config(), id)) continue;
    snprintf(doomed[n], sizeof doomed[n], "/icons/%s", base);
    sizes[n++] = (uint32_t)f.size();
  }
  dir.close();
  for (size_t i = 0; i < n; i++) {
    if (FFat.remove(doomed[i])) {
      (*deleted)++;
      *bytes_freed += sizes[i];
    }
  }
}
