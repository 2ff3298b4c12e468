#include "json_psram.h"

#include "psram_alloc.h"

void *PsramAllocator::allocate(size_t size) { return psram_prefer_malloc(size); }

void PsramAllocator::deallocate(void *ptr) { psram_free(ptr); }

void *PsramAllocator::reallocate(void *ptr, size_t new_size) {
  return psram_prefer_realloc(ptr, new_size);
}

PsramAllocator *PsramAllocator::instance() {
  static PsramAllocator allocator;  // stateless; lives for the whole program
  return &allocator;
}

JsonDocument make_json_doc_psram() { return JsonDocument(PsramAllocator::instance()); }
