// Rotating PSRAM buffers for JSON responses. ESPAsyncWebServer sends a
// (const uint8_t*, len) body straight from the pointer (no copy into an
// internal-RAM String), so the bytes must outlive the handler: each call
// hands out the next of RESPONSE_SLOTS buffers.
#pragma once
#include <stddef.h>

constexpr size_t RESPONSE_SLOTS = 6;
constexpr size_t RESPONSE_SLOT_BYTES = 4096;

void response_pool_begin();
char *response_pool_next();  // RESPONSE_SLOT_BYTES bytes
