/* Fragmentation, tripwire, health window, task sort and platform capture. */
#include "test_util.h"

#include <string.h>

#include "heaptrace.h"

static ht_snapshot_t snap(uint32_t hi, uint32_t hl, uint32_t hin, uint32_t pf,
                          uint32_t pl)
{
    ht_snapshot_t s;
    s.hf = hi;
    s.hm = hin;
    s.hl = hl;
    s.hi = hi;
    s.hin = hin;
    s.pf = pf;
    s.pm = pf;
    s.pl = pl;
    return s;
}

static void test_frag(void)
{
    CHECK(ht_frag_percent(0u, 0u) == 0u);
    CHECK(ht_frag_percent(0u, 100u) == 0u);          /* free 0 */
    CHECK(ht_frag_percent(100u, 200u) == 0u);        /* largest > free */
    CHECK(ht_frag_percent(100u, 100u) == 0u);        /* largest == free */
    CHECK(ht_frag_percent(3u, 1u) == 66u);           /* 1/3 -> 66.67 -> 66 */
    CHECK(ht_frag_percent(3u, 2u) == 33u);           /* 2/3 -> 33.33 -> 33 */
    CHECK(ht_frag_percent(100u, 0u) == 100u);        /* no usable block */
    CHECK(ht_frag_percent(100u, 99u) == 1u);
    CHECK(ht_frag_percent(1000u, 999u) == 0u);       /* 0.1 % floors to 0 */
    CHECK(ht_frag_percent(20912u, 9204u) == 55u);    /* protocol example */
    CHECK(ht_frag_percent(22000u, 9000u) == 59u);
    CHECK(ht_frag_percent(UINT32_MAX, 1u) == 99u);   /* no 32-bit overflow */
    CHECK(ht_frag_percent(UINT32_MAX, 0u) == 100u);
    CHECK(ht_frag_percent(UINT32_MAX, UINT32_MAX / 2u) == 50u);
}

static void test_tripwire(void)
{
    ht_tripwire_t t;
    ht_snapshot_t ok = snap(50000u, 40000u, 30720u, 1u, 1u);
    ht_snapshot_t low = snap(50000u, 40000u, 30719u, 1u, 1u);
    ht_snapshot_t lower = snap(10000u, 9000u, 1000u, 1u, 1u);

    ht_tripwire_init(&t, 30720u);
    CHECK(t.threshold == 30720u && !t.fired);
    CHECK(!ht_tripwire_check(&t, &ok));   /* hin == threshold: not below */
    CHECK(ht_tripwire_check(&t, &low));   /* fires */
    CHECK(t.fired);
    CHECK(!ht_tripwire_check(&t, &lower)); /* once per boot */
    CHECK(!ht_tripwire_check(&t, &low));
    CHECK(!ht_tripwire_check(&t, &ok));
    ht_tripwire_init(&t, 30720u);           /* "reboot" */
    CHECK(!t.fired);
    CHECK(!ht_tripwire_check(&t, &ok));
    CHECK(ht_tripwire_check(&t, &lower));  /* fires again after init */
    CHECK(!ht_tripwire_check(&t, &lower));
    ht_tripwire_init(&t, 0u);               /* threshold 0 never fires */
    CHECK(!ht_tripwire_check(&t, &lower));
    CHECK(!ht_tripwire_check(NULL, &low));
    CHECK(!ht_tripwire_check(&t, NULL));
}

static void test_window(void)
{
    ht_window_t w, out;
    ht_snapshot_t a = snap(50000u, 40000u, 1u, 8000000u, 7900000u); /* frag 20 / 1 */
    ht_snapshot_t b = snap(30000u, 15000u, 1u, 8100000u, 4050000u); /* frag 50 / 50 */
    ht_snapshot_t c = snap(60000u, 45000u, 1u, 7000000u, 6999999u); /* frag 25 / 0 */

    ht_window_reset(&w);
    CHECK(w.samples == 0u);
    memset(&out, 0x5a, sizeof out);
    CHECK(!ht_window_take(&w, &out));       /* empty window */
    CHECK(out.samples == 0u);

    ht_window_update(&w, &a);
    CHECK(w.samples == 1u);
    CHECK(w.internal_free_min == 50000u && w.internal_free_max == 50000u);
    CHECK(w.internal_largest_min == 40000u && w.internal_frag_max == 20u);
    CHECK(w.psram_free_min == 8000000u && w.psram_free_max == 8000000u);
    CHECK(w.psram_largest_min == 7900000u && w.psram_frag_max == 1u);

    ht_window_update(&w, &b);
    ht_window_update(&w, &c);
    CHECK(w.samples == 3u);
    CHECK(ht_window_take(&w, &out));
    CHECK(out.samples == 3u);
    CHECK(out.internal_free_min == 30000u);
    CHECK(out.internal_free_max == 60000u);
    CHECK(out.internal_largest_min == 15000u);
    CHECK(out.internal_frag_max == 50u);
    CHECK(out.psram_free_min == 7000000u);
    CHECK(out.psram_free_max == 8100000u);
    CHECK(out.psram_largest_min == 4050000u);
    CHECK(out.psram_frag_max == 50u);

    /* take resets: the next take is empty, the next window starts fresh */
    CHECK(w.samples == 0u);
    CHECK(!ht_window_take(&w, &out));
    CHECK(out.samples == 0u);
    ht_window_update(&w, &c);
    CHECK(ht_window_take(&w, &out));
    CHECK(out.samples == 1u && out.internal_free_min == 60000u &&
          out.internal_free_max == 60000u && out.internal_frag_max == 25u &&
          out.psram_frag_max == 0u);

    /* explicit reset discards samples */
    ht_window_update(&w, &a);
    ht_window_reset(&w);
    CHECK(!ht_window_take(&w, &out) && out.samples == 0u);
    /* NULL out still resets */
    ht_window_update(&w, &a);
    CHECK(ht_window_take(&w, NULL));
    CHECK(w.samples == 0u);
}

static ht_task_t task(const char *name, uint32_t rem)
{
    ht_task_t t;
    memset(&t, 0, sizeof t);
    strncpy(t.name, name, sizeof t.name - 1u);
    t.stack_rem = rem;
    t.core = -1;
    return t;
}

static void test_sort(void)
{
    ht_task_t t[7];
    const char *want[7] = {"ipc0", "ipc1", "b1", "b2", "b3", "loop", "IDLE"};
    size_t i;
    bool order = true;

    t[0] = task("b1", 500u);
    t[1] = task("loop", 3000u);
    t[2] = task("ipc0", 76u);
    t[3] = task("b2", 500u);
    t[4] = task("IDLE", 4000u);
    t[5] = task("ipc1", 84u);
    t[6] = task("b3", 500u);
    ht_tasks_sort_by_margin(t, 7u);
    for (i = 0; i < 7u; i++) {
        order &= strcmp(t[i].name, want[i]) == 0; /* stable: b1, b2, b3 */
    }
    CHECK(order);
    ht_tasks_sort_by_margin(t, 0u);
    ht_tasks_sort_by_margin(NULL, 5u);
    ht_tasks_sort_by_margin(t, 1u);
    CHECK(strcmp(t[0].name, "ipc0") == 0);
}

/* ---- platform capture with a fake platform ---- */

struct fake {
    bool heap_ok;
    size_t ntasks; /* how many the platform claims to have written */
    unsigned heap_calls;
};

static bool fake_heap(void *ctx, ht_snapshot_t *out)
{
    struct fake *f = ctx;
    f->heap_calls++;
    if (!f->heap_ok) {
        return false;
    }
    *out = snap(1000u, 500u, 400u, 2000u, 1000u);
    return true;
}

static size_t fake_tasks(void *ctx, ht_task_t *out, size_t max)
{
    struct fake *f = ctx;
    static const uint32_t rems[4] = {300u, 100u, 200u, 50u};
    size_t i;
    for (i = 0; i < max && i < 4u; i++) {
        out[i] = task("t", rems[i]);
    }
    return f->ntasks;
}

static void test_platform(void)
{
    struct fake f = {true, 4u, 0u};
    ht_platform_t p = {fake_heap, fake_tasks, NULL};
    ht_snapshot_t s;
    ht_task_t t[8];

    p.ctx = &f;
    CHECK(ht_capture(&p, &s));
    CHECK(s.hi == 1000u && s.hl == 500u && s.hin == 400u && s.pl == 1000u);
    f.heap_ok = false;
    s.hi = 7u;
    CHECK(!ht_capture(&p, &s));
    CHECK(s.hi == 0u); /* zeroed on failure */
    CHECK(!ht_capture(NULL, &s));
    CHECK(!ht_capture(&p, NULL));

    CHECK(ht_capture_tasks(&p, t, 8u) == 4u);
    CHECK(t[0].stack_rem == 50u && t[1].stack_rem == 100u &&
          t[2].stack_rem == 200u && t[3].stack_rem == 300u);
    f.ntasks = 99u; /* a lying platform is clamped to max */
    CHECK(ht_capture_tasks(&p, t, 3u) == 3u);
    CHECK(t[0].stack_rem == 100u && t[2].stack_rem == 300u);
    CHECK(ht_capture_tasks(&p, t, 0u) == 0u);
    p.read_tasks = NULL;
    CHECK(ht_capture_tasks(&p, t, 8u) == 0u);
}

void test_core(void)
{
    test_frag();
    test_tripwire();
    test_window();
    test_sort();
    test_platform();
}
