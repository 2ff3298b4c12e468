#include "async_tcp_watermark.h"

#include <AsyncTCP.h>
#include <freertos/FreeRTOS.h>
#include <freertos/task.h>

#include "heaptrace.h"
#include "logger.h"

#ifndef CONFIG_ASYNC_TCP_STACK_SIZE
#define CONFIG_ASYNC_TCP_STACK_SIZE 0  // unknown AsyncTCP version
#endif

void async_tcp_watermark_log() {
#if defined(INCLUDE_xTaskGetHandle) && (INCLUDE_xTaskGetHandle == 1)
  TaskHandle_t h = xTaskGetHandle("async_tcp");
  if (h == nullptr) return;  // created on the first connection
  static char line[200];
  size_t len = ht_fmt_async_tcp_watermark(line, sizeof line, (uint32_t)uxTaskGetStackHighWaterMark(h),
                                          (uint32_t)sizeof(StackType_t),
                                          (uint32_t)(CONFIG_ASYNC_TCP_STACK_SIZE), nullptr);
  log_raw(line, len);
#endif
}

void async_tcp_watermark_log_once() {
  static bool done;
#if defined(INCLUDE_xTaskGetHandle) && (INCLUDE_xTaskGetHandle == 1)
  if (done || xTaskGetHandle("async_tcp") == nullptr) return;
#else
  if (done) return;
#endif
  done = true;
  async_tcp_watermark_log();
}
