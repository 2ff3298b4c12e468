#include "macro_store.h"

#include <Preferences.h>
#include <string.h>

#include "json_psram.h"
#include "logger.h"
#include "scratch_buffer.h"

static ScratchBuffer s_json(MACROS_MAX_BYTES);
static size_t s_count;
static const char *NS = "heaplab_m";

static void count_macros() {
  JsonDocument doc = make_json_doc_psram();
  s_count = deserializeJson(doc, s_json.c_str(), s_json.size()) ? 0 : doc["macros"].size();
}

void macro_store_begin() {
  s_json.begin();
  Preferences p;
  if (p.begin(NS, true)) {
    size_t n = p.getBytesLength("doc");
    if (n > 0 && n <= MACROS_MAX_BYTES) {
      s_json.set_size(p.getBytes("doc", s_json.data(), n));
    }
    p.end();
  }
  if (s_json.size() == 0) s_json.append("{\"macros\":[]}", 13);
  count_macros();
}

const char *macro_store_json(size_t *len) {
  *len = s_json.size();
  return s_json.c_str();
}

bool macro_store_save(const JsonDocument &doc) {
  size_t need = measureJson(doc);
  if (need > MACROS_MAX_BYTES) return false;
  s_json.set_size(serializeJson(doc, s_json.data(), MACROS_MAX_BYTES + 1));
  s_count = doc["macros"].size();
  Preferences p;
  if (!p.begin(NS, false)) return false;
  size_t written = p.putBytes("doc", s_json.data(), s_json.size());
  p.end();
  return written == s_json.size();
}

bool macro_store_references_icon(const char *icon_id) {
  // Scans the stored text on demand: no keep-set (the S6 stack overflow).
  const char *p = s_json.c_str();
  size_t id_len = strlen(icon_id);
  while ((p = strstr(p, "\"icon\"")) != nullptr) {
    p += 6;
    while (*p == ' ' || *p == ':') p++;
    if (*p == '"' && strncmp(p + 1, icon_id, id_len) == 0 && p[1 + id_len] == '"') return true;
  }
  return false;
}

size_t macro_store_count() { return s_count; }
