// The macros document, stored as compact JSON text in a PSRAM buffer and
// persisted to NVS.
#pragma once
#include <ArduinoJson.h>
#include <stddef.h>

constexpr size_t MACROS_MAX_BYTES = 32 * 1024;

void macro_store_begin();
const char *macro_store_json(size_t *len);  // "[]" when empty
// Serializes doc into the store and NVS. False if too large or NVS failed.
bool macro_store_save(const JsonDocument &doc);
// True if any macro references this icon id ("icon":"<id>").
bool macro_store_references_icon(const char *icon_id);
size_t macro_store_count();
