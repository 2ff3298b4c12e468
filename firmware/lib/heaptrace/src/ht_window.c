#include "ht_window.h"

#include <stddef.h>

void ht_window_reset(ht_window_t *w)
{
    if (w == NULL) {
        return;
    }
    w->samples = 0u;
    w->internal_free_min = 0u;
    w->internal_free_max = 0u;
    w->internal_largest_min = 0u;
    w->internal_frag_max = 0u;
    w->psram_free_min = 0u;
    w->psram_free_max = 0u;
    w->psram_largest_min = 0u;
    w->psram_frag_max = 0u;
}

static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static uint32_t max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }
static uint8_t max_u8(uint8_t a, uint8_t b) { return a > b ? a : b; }

void ht_window_update(ht_window_t *w, const ht_snapshot_t *s)
{
    uint8_t ifrag;
    uint8_t pfrag;

    if (w == NULL || s == NULL) {
        return;
    }
    ifrag = ht_frag_percent(s->hi, s->hl);
    pfrag = ht_frag_percent(s->pf, s->pl);
    if (w->samples == 0u) {
        w->internal_free_min = s->hi;
        w->internal_free_max = s->hi;
        w->internal_largest_min = s->hl;
        w->internal_frag_max = ifrag;
        w->psram_free_min = s->pf;
        w->psram_free_max = s->pf;
        w->psram_largest_min = s->pl;
        w->psram_frag_max = pfrag;
    } else {
        w->internal_free_min = min_u32(w->internal_free_min, s->hi);
        w->internal_free_max = max_u32(w->internal_free_max, s->hi);
        w->internal_largest_min = min_u32(w->internal_largest_min, s->hl);
        w->internal_frag_max = max_u8(w->internal_frag_max, ifrag);
        w->psram_free_min = min_u32(w->psram_free_min, s->pf);
        w->psram_free_max = max_u32(w->psram_free_max, s->pf);
        w->psram_largest_min = min_u32(w->psram_largest_min, s->pl);
        w->psram_frag_max = max_u8(w->psram_frag_max, pfrag);
    }
    if (w->samples < UINT32_MAX) {
        w->samples++;
    }
}

bool ht_window_take(ht_window_t *w, ht_window_t *out)
{
    bool had_samples;

    if (w == NULL) {
        if (out != NULL) {
            ht_window_reset(out);
        }
        return false;
    }
    had_samples = w->samples > 0u;
    if (out != NULL) {
        *out = *w;
    }
    ht_window_reset(w);
    return had_samples;
}
