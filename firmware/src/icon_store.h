// Icons (device-api.md §6): the compiled mask registry that GET /api/icons
// lists, and installed colour icons as ICN1 blobs in /icons/<id>.bin on
// FFat. Without an FFat partition (this board's default partition table)
// the installed list is empty and installs answer
// "FFat not available on this partition scheme".
#pragma once
#include <ArduinoJson.h>
#include <stddef.h>
#include <stdint.h>

constexpr size_t ICON_BLOB_MAX_BYTES = 256 * 1024;

size_t icon_builtin_count();
const char *icon_builtin_id(size_t i);  // sorted by id

bool icon_store_available();  // FFat mounted
// Appends {"id","kind":"color"} for every installed icon.
void icon_store_list(JsonArray out);
// nullptr when the blob is a valid ICN1 icon, else the 400 message.
const char *icon_store_check_blob(const uint8_t *blob, size_t len);
// nullptr when written, else the message (400 unless noted by *status).
const char *icon_store_install(const char *id, const uint8_t *blob, size_t len, int *status);
// Deletes emoji_* / user_* files no emoji/asset button of the running
// macro config uses.
void icon_store_gc(uint32_t *deleted, uint32_t *bytes_freed);
