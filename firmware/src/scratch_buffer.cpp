#include "scratch_buffer.h"

#include <string.h>

#include "psram_alloc.h"

void ScratchBuffer::begin() {
  if (data_ != nullptr) return;
  data_ = static_cast<char *>(psram_malloc_or_die(capacity_ + 1));
  clear();
}

void ScratchBuffer::clear() {
  size_ = 0;
  if (data_) data_[0] = '\0';
}

bool ScratchBuffer::append(const void *bytes, size_t len) {
  return write_at(size_, bytes, len);
}

bool ScratchBuffer::write_at(size_t offset, const void *bytes, size_t len) {
  if (data_ == nullptr || offset > capacity_ || len > capacity_ - offset) return false;
  memcpy(data_ + offset, bytes, len);
  if (offset + len > size_) size_ = offset + len;
  data_[size_] = '\0';
  return true;
}

void ScratchBuffer::set_size(size_t n) {
  if (data_ == nullptr) return;
  size_ = n > capacity_ ? capacity_ : n;
  data_[size_] = '\0';
}
