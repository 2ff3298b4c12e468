#include "reboot.h"

#include <Arduino.h>

#include "logger.h"

static volatile bool s_pending;
static volatile uint32_t s_due_ms;

void reboot_schedule(uint32_t delay_ms) {
  s_due_ms = millis() + delay_ms;
  s_pending = true;
}

void reboot_loop() {
  if (s_pending && (int32_t)(millis() - s_due_ms) >= 0) {
    log_msg(0, "System", "Rebooting", LOG_NO_ELAPSED);
    Serial.flush();
    ESP.restart();
  }
}
