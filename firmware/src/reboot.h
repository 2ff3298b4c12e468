// Deferred restart, so an HTTP handler can answer 202 first.
#pragma once
#include <stdint.h>

void reboot_schedule(uint32_t delay_ms);
void reboot_loop();  // from loop(): calls ESP.restart() when due
