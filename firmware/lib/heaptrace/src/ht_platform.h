/* ht_platform.h - the small interface a platform implements for capture. */
#ifndef HT_PLATFORM_H
#define HT_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "ht_snapshot.h"
#include "ht_task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    /* Fill *out with the current heap numbers; false when unavailable. */
    bool (*read_heap)(void *ctx, ht_snapshot_t *out);
    /* Write up to max tasks into out; returns how many were written. */
    size_t (*read_tasks)(void *ctx, ht_task_t *out, size_t max);
    void *ctx;
} ht_platform_t;

/* Zeroes *out, then calls read_heap. False if p, read_heap or out is NULL,
 * or read_heap failed. */
bool ht_capture(const ht_platform_t *p, ht_snapshot_t *out);
/* Calls read_tasks (result clamped to max) and sorts by stack margin. */
size_t ht_capture_tasks(const ht_platform_t *p, ht_task_t *out, size_t max);

#ifdef __cplusplus
}
#endif

#endif /* HT_PLATFORM_H */
