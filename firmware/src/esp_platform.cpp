#include "esp_platform.h"

#include <esp_heap_caps.h>
#include <freertos/FreeRTOS.h>
#include <freertos/task.h>
#include <string.h>

#include "psram_alloc.h"

static constexpr uint32_t INTERNAL_CAPS = MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT;
static constexpr size_t MAX_TASKS = 48;

static bool read_heap(void *, ht_snapshot_t *out) {
  // hf/hm mirror ESP.getFreeHeap()/ESP.getMinFreeHeap() (MALLOC_CAP_INTERNAL)
  out->hf = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
  out->hm = heap_caps_get_minimum_free_size(MALLOC_CAP_INTERNAL);
  out->hl = heap_caps_get_largest_free_block(INTERNAL_CAPS);
  out->hi = heap_caps_get_free_size(INTERNAL_CAPS);
  out->hin = heap_caps_get_minimum_free_size(INTERNAL_CAPS);
  out->pf = heap_caps_get_free_size(MALLOC_CAP_SPIRAM);
  out->pm = heap_caps_get_minimum_free_size(MALLOC_CAP_SPIRAM);
  out->pl = heap_caps_get_largest_free_block(MALLOC_CAP_SPIRAM);
  return true;
}

__attribute__((unused)) static int32_t core_of(TaskHandle_t h) {
#if defined(ESP_IDF_VERSION_MAJOR) && ESP_IDF_VERSION_MAJOR >= 5
  return (int32_t)xTaskGetCoreID(h);  // tskNO_AFFINITY (0x7FFFFFFF) when unpinned
#else
  return (int32_t)xTaskGetAffinity(h);
#endif
}

static void fill(ht_task_t *t, const char *name, uint32_t prio, int32_t core, uint32_t hwm_units) {
  memset(t->name, 0, sizeof t->name);
  strncpy(t->name, name ? name : "-", sizeof t->name - 1);
  t->prio = prio;
  t->core = core;
  // ESP-IDF counts stack in bytes (StackType_t is uint8_t); stay generic.
  t->stack_rem = hwm_units * (uint32_t)sizeof(StackType_t);
}

#if defined(configUSE_TRACE_FACILITY) && (configUSE_TRACE_FACILITY == 1)

static TaskStatus_t *s_status;  // PSRAM, MAX_TASKS entries

void esp_platform_begin() {
  if (!s_status) s_status = static_cast<TaskStatus_t *>(psram_malloc_or_die(MAX_TASKS * sizeof(TaskStatus_t)));
}

static size_t read_tasks(void *, ht_task_t *out, size_t max) {
  if (!s_status) return 0;
  // Returns 0 when MAX_TASKS is too small for the current task count.
  UBaseType_t n = uxTaskGetSystemState(s_status, MAX_TASKS, nullptr);
  size_t count = 0;
  for (UBaseType_t i = 0; i < n && count < max; i++) {
    const TaskStatus_t &st = s_status[i];
#if defined(configTASKLIST_INCLUDE_COREID) && (configTASKLIST_INCLUDE_COREID == 1)
    int32_t core = (int32_t)st.xCoreID;
#else
    int32_t core = core_of(st.xHandle);
#endif
    fill(&out[count++], st.pcTaskName, st.uxCurrentPriority, core, st.usStackHighWaterMark);
  }
  return count;
}

#else  // no trace facility: the tasks we know by name

void esp_platform_begin() {}

static size_t read_tasks(void *, ht_task_t *out, size_t max) {
  static const char *const kNames[] = {"loopTask", "async_tcp", "arduino_events", "esp_timer",
                                       "wifi",     "tiT",       "sys_evt",        "ipc0",
                                       "ipc1",     "IDLE0",     "IDLE1",          "IDLE",
                                       "Tmr Svc"};
  size_t count = 0;
  for (const char *name : kNames) {
    if (count >= max) break;
#if defined(INCLUDE_xTaskGetHandle) && (INCLUDE_xTaskGetHandle == 1)
    TaskHandle_t h = xTaskGetHandle(name);
#else
    TaskHandle_t h = (strcmp(name, "loopTask") == 0) ? xTaskGetCurrentTaskHandle() : nullptr;
#endif
    if (h == nullptr) continue;
    fill(&out[count++], name, uxTaskPriorityGet(h), core_of(h), uxTaskGetStackHighWaterMark(h));
  }
  return count;
}

#endif

static const ht_platform_t s_platform = {read_heap, read_tasks, nullptr};

const ht_platform_t *esp_platform() { return &s_platform; }
