// The /api/health document's values, shared by GET /api/health and the
// MQTT health state (which leaves the *_window fields null: only an HTTP
// read takes and resets the window).
#pragma once
#include "heaptrace.h"

// Strings the filled ht_health_t points into; one per caller (task).
struct HealthStrings {
  char ip[16];
  char hostname[40];
};

void system_health_fill(ht_health_t *h, HealthStrings *strings, bool take_window);
