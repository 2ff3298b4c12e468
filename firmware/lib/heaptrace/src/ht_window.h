/* ht_window.h - min/max health window between two /api/health calls.
 *
 * The device samples every 200 ms (ht_window_update) and the health handler
 * takes the window (ht_window_take), which also resets it. Not thread-safe:
 * on the device wrap update/take in the same critical section.
 */
#ifndef HT_WINDOW_H
#define HT_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "ht_snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t samples;
    uint32_t internal_free_min, internal_free_max, internal_largest_min;
    uint8_t internal_frag_max;
    uint32_t psram_free_min, psram_free_max, psram_largest_min;
    uint8_t psram_frag_max;
} ht_window_t;

/* Empty window: every field 0, samples 0. */
void ht_window_reset(ht_window_t *w);
/* internal = hi/hl, psram = pf/pl, frag via ht_frag_percent(). */
void ht_window_update(ht_window_t *w, const ht_snapshot_t *s);
/* Copies w into out and resets w. Returns false (out->samples == 0) when
 * there were no samples since the previous take/reset. */
bool ht_window_take(ht_window_t *w, ht_window_t *out);

#ifdef __cplusplus
}
#endif

#endif /* HT_WINDOW_H */
