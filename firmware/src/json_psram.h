// ArduinoJson 7 documents whose memory lives in PSRAM.
#pragma once
#include <ArduinoJson.h>

// Allocates in PSRAM, falls back to internal RAM when PSRAM is exhausted.
struct PsramAllocator : ArduinoJson::Allocator {
  void *allocate(size_t size) override;
  void deallocate(void *ptr) override;
  void *reallocate(void *ptr, size_t new_size) override;

  static PsramAllocator *instance();
};

// An empty JsonDocument backed by PsramAllocator. Use it for every document
// parsed from a request or built for a response.
JsonDocument make_json_doc_psram();
