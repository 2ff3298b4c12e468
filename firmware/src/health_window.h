// Samples the heap every HEALTH_WINDOW_SAMPLE_MS (esp_timer) into an
// ht_window_t; /api/health takes (and thereby resets) it on every call.
#pragma once
#include "heaptrace.h"

void health_window_begin();
// Copies the window since the previous take and resets it; false if empty.
bool health_window_take(ht_window_t *out);
