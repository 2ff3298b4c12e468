// PSRAM allocation helpers for long-lived / large buffers.
#pragma once
#include <stddef.h>

// heap_caps_malloc(size, MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT); on failure logs
// "[Mem] FATAL psram_malloc_or_die(...)" with the PSRAM numbers and aborts.
// Use it at init time for buffers the firmware cannot run without.
void *psram_malloc_or_die(size_t size);

// PSRAM first, internal RAM as a fallback (nullptr if both fail).
void *psram_prefer_malloc(size_t size);
void *psram_prefer_realloc(void *ptr, size_t size);
void psram_free(void *ptr);
