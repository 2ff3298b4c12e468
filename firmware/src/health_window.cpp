#include "health_window.h"

#include <esp_timer.h>
#include <freertos/FreeRTOS.h>

#include "app_config.h"
#include "esp_platform.h"
#include "logger.h"

static ht_window_t s_window;
static portMUX_TYPE s_mux = portMUX_INITIALIZER_UNLOCKED;
static esp_timer_handle_t s_timer;

static void sample(void *) {
  ht_snapshot_t s;
  if (!ht_capture(esp_platform(), &s)) return;  // heap reads outside the lock
  portENTER_CRITICAL(&s_mux);
  ht_window_update(&s_window, &s);
  portEXIT_CRITICAL(&s_mux);
}

void health_window_begin() {
  if (s_timer) return;
  ht_window_reset(&s_window);
  esp_timer_create_args_t args = {};
  args.callback = &sample;
  args.arg = nullptr;
  args.dispatch_method = ESP_TIMER_TASK;
  args.name = "health_win";
  args.skip_unhandled_events = true;
  if (esp_timer_create(&args, &s_timer) != ESP_OK ||
      esp_timer_start_periodic(s_timer, (uint64_t)HEALTH_WINDOW_SAMPLE_MS * 1000ULL) != ESP_OK) {
    log_msg(0, "Mem", "health window timer failed to start", LOG_NO_ELAPSED);
  }
}

bool health_window_take(ht_window_t *out) {
  portENTER_CRITICAL(&s_mux);
  bool had = ht_window_take(&s_window, out);
  portEXIT_CRITICAL(&s_mux);
  return had;
}
