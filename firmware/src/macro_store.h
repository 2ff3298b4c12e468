// The running macro configuration (PSRAM) and its GET /api/macros JSON,
// serialized once per change into a stable PSRAM buffer (GETs send from it
// without a copy) and persisted to NVS namespace "macros" (key "b"; "mg"
// and "v" hold the MACR magic and version). This board has no FFat
// partition, so NVS is the store (the team device's fallback).
#pragma once
#include <ArduinoJson.h>
#include <stddef.h>

#include "macro_config.h"

constexpr size_t MACROS_JSON_MAX_BYTES = 64 * 1024;

void macro_store_begin();                   // load from NVS, else factory
const char *macro_store_json(size_t *len);  // the GET document
const MacroConfig &macro_store_config();
// Saves `next` and, when the NVS write worked, makes it the running config
// (immediately, no reboot). False: nothing changed (500 Failed to save).
bool macro_store_apply(const MacroConfig &next);
