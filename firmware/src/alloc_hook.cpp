#include "alloc_hook.h"

#include <Arduino.h>
#include <esp_heap_caps.h>
#include <esp_rom_sys.h>
#include <freertos/FreeRTOS.h>

#include "heaptrace.h"

static char s_line[128];
static volatile uint32_t s_busy;
static volatile uint32_t s_failures;

// Runs in the failing task's context (possibly deep inside a driver):
// static buffer, hand-rolled formatting, no logger mutex, no String.
static void on_alloc_failed(size_t size, uint32_t caps, const char *function_name) {
  s_failures = s_failures + 1;
  if (__atomic_exchange_n(&s_busy, 1u, __ATOMIC_ACQUIRE) != 0u) return;  // re-entered: drop
  size_t n = ht_fmt_alloc_failed(s_line, sizeof s_line - 1, (uint32_t)size, caps, function_name, nullptr);
  s_line[n++] = '\n';
  s_line[n] = '\0';
  if (xPortInIsrContext()) {
    esp_rom_printf("%s", s_line);  // ROM console, no locks, no heap
  } else {
    Serial.write(reinterpret_cast<const uint8_t *>(s_line), n);  // ring buffer, no heap
  }
  __atomic_store_n(&s_busy, 0u, __ATOMIC_RELEASE);
}

void alloc_hook_begin() { heap_caps_register_failed_alloc_callback(on_alloc_failed); }

uint32_t alloc_hook_failures() { return s_failures; }
