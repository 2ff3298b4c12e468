#include "macro_store.h"

#include <Arduino.h>
#include <Preferences.h>
#include <string.h>

#include "json_psram.h"
#include "logger.h"
#include "psram_alloc.h"
#include "scratch_buffer.h"

static const char *NS = "macros";
static constexpr uint32_t MAGIC = 0x5243414D;  // "MACR" little-endian

static MacroConfig *s_config;  // PSRAM, ~66 KB
static ScratchBuffer s_json(MACROS_JSON_MAX_BYTES);

static void serialize_from(const MacroConfig &c);

static bool load() {
  Preferences p;
  if (!p.begin(NS, true)) return false;
  bool ok = p.getUInt("mg", 0) == MAGIC && p.getUInt("v", 0) == MACROS_CONFIG_VERSION;
  size_t n = ok ? p.getBytesLength("b") : 0;
  if (n > 0 && n <= MACROS_JSON_MAX_BYTES) s_json.set_size(p.getBytes("b", s_json.data(), n));
  p.end();
  if (s_json.size() == 0) return false;
  JsonDocument doc = make_json_doc_psram();
  if (deserializeJson(doc, s_json.c_str(), s_json.size())) return false;
  return macro_config_from_json(doc.as<JsonVariantConst>(), s_config) == nullptr;
}

void macro_store_begin() {
  s_json.begin();
  if (!s_config) s_config = static_cast<MacroConfig *>(psram_malloc_or_die(sizeof(MacroConfig)));
  uint32_t started = millis();
  log_msg(0, "Macros Load", "Starting...", LOG_NO_ELAPSED);
  if (!load()) {
    macro_config_reset(s_config);
    log_msg(2, nullptr, "No stored config: factory defaults", LOG_NO_ELAPSED);
  }
  serialize_from(*s_config);
  log_msg(0, nullptr, "Done", (int32_t)(millis() - started));
}

const char *macro_store_json(size_t *len) {
  *len = s_json.size();
  return s_json.c_str();
}

const MacroConfig &macro_store_config() { return *s_config; }

static void serialize_from(const MacroConfig &c) {
  JsonDocument doc = make_json_doc_psram();
  macro_config_to_json(c, doc);
  size_t n = serializeJson(doc, s_json.data(), MACROS_JSON_MAX_BYTES + 1);
  s_json.set_size(n <= MACROS_JSON_MAX_BYTES ? n : 0);
}

bool macro_store_apply(const MacroConfig &next) {
  uint32_t started = millis();
  log_msg(0, "Macros Save", "Starting...", LOG_NO_ELAPSED);
  serialize_from(next);
  Preferences p;
  bool ok = s_json.size() > 0 && p.begin(NS, false);
  if (ok) {
    ok = p.putBytes("b", s_json.data(), s_json.size()) == s_json.size();
    p.putUInt("mg", MAGIC);
    p.putUInt("v", MACROS_CONFIG_VERSION);
    p.end();
  }
  log_msg(0, nullptr, ok ? "OK (NVS)" : "FAILED (NVS)", (int32_t)(millis() - started));
  if (ok) {
    memcpy(s_config, &next, sizeof next);
  } else {
    serialize_from(*s_config);  // GET keeps showing the running config
  }
  return ok;
}
