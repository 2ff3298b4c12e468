// heaptrace platform for ESP32 (heap_caps + FreeRTOS task list).
#pragma once
#include "heaptrace.h"

// Allocates the task-status array in PSRAM; call once early in setup().
void esp_platform_begin();
const ht_platform_t *esp_platform();
