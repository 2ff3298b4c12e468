// Prints "[Mem] ALLOC_FAILED size=.. caps=0x.. fn=.." for every failed heap
// allocation (heap_caps_register_failed_alloc_callback). Never allocates.
#pragma once
#include <stdint.h>

void alloc_hook_begin();
uint32_t alloc_hook_failures();  // count since boot
