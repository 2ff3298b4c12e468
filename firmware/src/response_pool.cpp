#include "response_pool.h"

#include <atomic>

#include "psram_alloc.h"

static char *s_pool;
static std::atomic<unsigned> s_next{0};

void response_pool_begin() {
  if (!s_pool) s_pool = static_cast<char *>(psram_malloc_or_die(RESPONSE_SLOTS * RESPONSE_SLOT_BYTES));
}

char *response_pool_next() {
  unsigned i = s_next.fetch_add(1) % RESPONSE_SLOTS;
  return s_pool + i * RESPONSE_SLOT_BYTES;
}
