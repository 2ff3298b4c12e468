// A reusable byte buffer allocated once in PSRAM (never freed, never grown):
// use it instead of malloc/free or String growth in hot paths.
#pragma once
#include <stddef.h>
#include <stdint.h>

class ScratchBuffer {
 public:
  explicit ScratchBuffer(size_t capacity) : capacity_(capacity) {}
  ScratchBuffer(const ScratchBuffer &) = delete;
  ScratchBuffer &operator=(const ScratchBuffer &) = delete;

  // Allocates capacity+1 bytes in PSRAM (psram_malloc_or_die). Call early in
  // setup(); idempotent.
  void begin();

  char *data() { return data_; }
  const char *c_str() const { return data_; }  // always NUL-terminated
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }

  void clear();
  // False (and nothing appended) if it would not fit.
  bool append(const void *bytes, size_t len);
  // Writes len bytes at offset (for chunked HTTP bodies); false if too big.
  bool write_at(size_t offset, const void *bytes, size_t len);
  // Sets the used size after writing into data() directly.
  void set_size(size_t n);

 private:
  char *data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_;
};
