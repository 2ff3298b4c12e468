#include "logger.h"

#include <Arduino.h>
#include <freertos/FreeRTOS.h>
#include <freertos/semphr.h>
#include <stdarg.h>
#include <stdio.h>

#include "heaptrace.h"

static StaticSemaphore_t s_mutex_storage;
static SemaphoreHandle_t s_mutex;
static char s_line[320];
static char s_msg[256];

void logger_begin() {
  if (s_mutex == nullptr) {
    s_mutex = xSemaphoreCreateMutexStatic(&s_mutex_storage);
  }
}

static void lock() {
  if (s_mutex) xSemaphoreTake(s_mutex, portMAX_DELAY);
}
static void unlock() {
  if (s_mutex) xSemaphoreGive(s_mutex);
}

static void write_line(const char *line, size_t len) {
  Serial.write(reinterpret_cast<const uint8_t *>(line), len);
  Serial.write('\n');
}

void log_raw(const char *line, size_t len) {
  lock();
  write_line(line, len);
  unlock();
}

// Caller holds the lock.
static void compose(uint8_t indent, const char *module, const char *msg, int32_t elapsed_ms) {
  ht_buf_t b;
  ht_buf_init(&b, s_line, sizeof s_line);
  for (uint8_t i = 0; i < indent && i < 6; i++) ht_buf_putc(&b, ' ');
  if (module != nullptr) {
    ht_buf_putc(&b, '[');
    ht_buf_puts(&b, module);
    ht_buf_puts(&b, "] ");
  }
  ht_buf_puts(&b, msg);
  size_t len = ht_buf_finish(&b, nullptr);
  if (elapsed_ms >= 0) {
    len += ht_fmt_log_suffix(s_line + len, sizeof s_line - len, (uint32_t)elapsed_ms, nullptr);
  }
  write_line(s_line, len);
}

void log_msg(uint8_t indent, const char *module, const char *msg, int32_t elapsed_ms) {
  lock();
  compose(indent, module, msg, elapsed_ms);
  unlock();
}

void log_msgf(uint8_t indent, const char *module, int32_t elapsed_ms, const char *fmt, ...) {
  lock();
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s_msg, sizeof s_msg, fmt, ap);  // integers/strings only: no heap
  va_end(ap);
  compose(indent, module, s_msg, elapsed_ms);
  unlock();
}
