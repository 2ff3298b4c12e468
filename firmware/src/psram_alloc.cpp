#include "psram_alloc.h"

#include <esp_heap_caps.h>
#include <stdlib.h>

#include "logger.h"

void *psram_malloc_or_die(size_t size) {
  void *p = heap_caps_malloc(size, MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT);
  if (p == nullptr) {
    log_msgf(0, "Mem", LOG_NO_ELAPSED,
             "FATAL psram_malloc_or_die(%u) failed: pf=%u pl=%u (is PSRAM enabled?)",
             (unsigned)size, (unsigned)heap_caps_get_free_size(MALLOC_CAP_SPIRAM),
             (unsigned)heap_caps_get_largest_free_block(MALLOC_CAP_SPIRAM));
    abort();
  }
  return p;
}

void *psram_prefer_malloc(size_t size) {
  return heap_caps_malloc_prefer(size, 2, MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT,
                                 MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT);
}

void *psram_prefer_realloc(void *ptr, size_t size) {
  return heap_caps_realloc_prefer(ptr, size, 2, MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT,
                                  MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT);
}

void psram_free(void *ptr) { heap_caps_free(ptr); }
