#include "mem_telemetry.h"

#include <Arduino.h>
#include <freertos/FreeRTOS.h>
#include <string.h>

#include "app_config.h"
#include "async_tcp_watermark.h"
#include "esp_platform.h"
#include "heaptrace.h"
#include "logger.h"
#include "psram_alloc.h"

static constexpr size_t QUEUE_LEN = 8;
static constexpr size_t TAG_LEN = 40;
static constexpr size_t MAX_TASKS = 48;

static char s_queue[QUEUE_LEN][TAG_LEN];
static size_t s_head, s_count;
static uint32_t s_dropped;
static portMUX_TYPE s_mux = portMUX_INITIALIZER_UNLOCKED;

static ht_tripwire_t s_tripwire;
static uint32_t s_last_hb_ms;
static char s_line[256];
static ht_task_t *s_tasks;  // PSRAM

void mem_telemetry_begin() {
  ht_tripwire_init(&s_tripwire, MEMORY_TRIPWIRE_INTERNAL_MIN_BYTES);
  if (!s_tasks) s_tasks = static_cast<ht_task_t *>(psram_malloc_or_die(MAX_TASKS * sizeof(ht_task_t)));
  s_last_hb_ms = millis();
}

void mem_task_dump(const char *tag) {
  size_t n = s_tasks ? ht_capture_tasks(esp_platform(), s_tasks, MAX_TASKS) : 0;
  size_t len = ht_fmt_task_header(s_line, sizeof s_line, (uint32_t)n, tag, nullptr);
  log_raw(s_line, len);
  for (size_t i = 0; i < n; i++) {
    len = ht_fmt_task(s_line, sizeof s_line, &s_tasks[i], nullptr);
    log_raw(s_line, len);
  }
  async_tcp_watermark_log();
}

void mem_snapshot_emit(const char *tag) {
  uint32_t t0 = millis();
  ht_snapshot_t s;
  if (!ht_capture(esp_platform(), &s)) return;
  size_t len = ht_fmt_mem(s_line, sizeof s_line, tag, &s, nullptr);
  len += ht_fmt_log_suffix(s_line + len, sizeof s_line - len, millis() - t0, nullptr);
  log_raw(s_line, len);

  if (ht_tripwire_check(&s_tripwire, &s)) {
    len = ht_fmt_tripwire(s_line, sizeof s_line, tag, &s, s_tripwire.threshold, nullptr);
    log_raw(s_line, len);
    mem_task_dump(tag);
  }
}

void mem_snapshot_request(const char *tag) {
  portENTER_CRITICAL(&s_mux);
  if (s_count < QUEUE_LEN) {
    char *slot = s_queue[(s_head + s_count) % QUEUE_LEN];
    strncpy(slot, tag ? tag : "-", TAG_LEN - 1);
    slot[TAG_LEN - 1] = '\0';
    s_count++;
  } else {
    s_dropped++;
  }
  portEXIT_CRITICAL(&s_mux);
}

static bool pop(char *out) {
  bool got = false;
  portENTER_CRITICAL(&s_mux);
  if (s_count > 0) {
    memcpy(out, s_queue[s_head], TAG_LEN);
    s_head = (s_head + 1) % QUEUE_LEN;
    s_count--;
    got = true;
  }
  portEXIT_CRITICAL(&s_mux);
  return got;
}

void mem_telemetry_loop() {
  static char tag[TAG_LEN];
  while (pop(tag)) {
    mem_snapshot_emit(tag);
    if (strncmp(tag, "http_", 5) == 0) async_tcp_watermark_log_once();
  }
  uint32_t dropped;
  portENTER_CRITICAL(&s_mux);
  dropped = s_dropped;
  s_dropped = 0;
  portEXIT_CRITICAL(&s_mux);
  if (dropped) log_msgf(0, "Mem", LOG_NO_ELAPSED, "snapshot queue full: %u tags dropped", (unsigned)dropped);

  uint32_t now = millis();
  if (now - s_last_hb_ms >= (uint32_t)MEMORY_HEARTBEAT_INTERVAL_MS) {
    s_last_hb_ms = now;
    mem_snapshot_emit("hb");
  }
}
