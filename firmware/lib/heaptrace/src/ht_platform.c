#include "ht_platform.h"

bool ht_capture(const ht_platform_t *p, ht_snapshot_t *out)
{
    if (out == NULL) {
        return false;
    }
    out->hf = out->hm = out->hl = out->hi = out->hin = 0u;
    out->pf = out->pm = out->pl = 0u;
    if (p == NULL || p->read_heap == NULL) {
        return false;
    }
    return p->read_heap(p->ctx, out);
}

size_t ht_capture_tasks(const ht_platform_t *p, ht_task_t *out, size_t max)
{
    size_t n;

    if (p == NULL || p->read_tasks == NULL || out == NULL || max == 0u) {
        return 0u;
    }
    n = p->read_tasks(p->ctx, out, max);
    if (n > max) {
        n = max;
    }
    ht_tasks_sort_by_margin(out, n);
    return n;
}
