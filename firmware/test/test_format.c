/* Exact output and truncation of every ht_fmt_* formatter. */
#include "test_util.h"

#include <string.h>

#include "heaptrace.h"

static const ht_snapshot_t HB = {20912u, 18040u, 9204u, 20912u, 18040u,
                                 8271944u, 8266852u, 8257524u};
static const ht_snapshot_t TRIP = {22000u, 21000u, 9000u, 22000u, 21532u,
                                   8200000u, 8190000u, 8100000u};
static const ht_snapshot_t MAXED = {UINT32_MAX, UINT32_MAX, UINT32_MAX,
                                    UINT32_MAX, UINT32_MAX, UINT32_MAX,
                                    UINT32_MAX, UINT32_MAX};
static const ht_snapshot_t ZERO = {0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u};

static size_t mem_hb(char *b, size_t c, bool *t) { return ht_fmt_mem(b, c, "hb", &HB, t); }
static size_t mem_null_tag(char *b, size_t c, bool *t) { return ht_fmt_mem(b, c, NULL, &ZERO, t); }
static size_t mem_max(char *b, size_t c, bool *t) { return ht_fmt_mem(b, c, "lvgl_switch_pre_macro1", &MAXED, t); }
static size_t mem_hi_differs(char *b, size_t c, bool *t)
{
    /* frag is computed from hi/hl, not hf/hl */
    static const ht_snapshot_t s = {100000u, 1u, 25000u, 50000u, 2u, 3u, 4u, 5u};
    return ht_fmt_mem(b, c, "setup", &s, t);
}
static size_t trip(char *b, size_t c, bool *t) { return ht_fmt_tripwire(b, c, "http_root", &TRIP, 30720u, t); }
static size_t trip_null(char *b, size_t c, bool *t) { return ht_fmt_tripwire(b, c, NULL, &ZERO, 0u, t); }
static size_t hdr(char *b, size_t c, bool *t) { return ht_fmt_task_header(b, c, 14u, "http_root", t); }
static size_t hdr_null(char *b, size_t c, bool *t) { return ht_fmt_task_header(b, c, 0u, NULL, t); }

static ht_task_t mk_task(const char *name, uint32_t prio, int32_t core, uint32_t rem)
{
    ht_task_t t;
    memset(&t, 0, sizeof t);
    strncpy(t.name, name, sizeof t.name - 1u);
    t.prio = prio;
    t.core = core;
    t.stack_rem = rem;
    return t;
}

static size_t task_ipc0(char *b, size_t c, bool *t)
{
    ht_task_t k = mk_task("ipc0", 24u, 0, 76u);
    return ht_fmt_task(b, c, &k, t);
}
static size_t task_noaff_neg(char *b, size_t c, bool *t)
{
    ht_task_t k = mk_task("async_tcp", 3u, -1, 2100u);
    return ht_fmt_task(b, c, &k, t);
}
static size_t task_noaff_max(char *b, size_t c, bool *t)
{
    ht_task_t k = mk_task("IDLE1", 0u, 2147483647, 4294967295u);
    return ht_fmt_task(b, c, &k, t);
}
static size_t task_full_name(char *b, size_t c, bool *t)
{
    /* all 24 name bytes used, no NUL inside the array */
    ht_task_t k = mk_task("", 1u, 1, 5u);
    memcpy(k.name, "ABCDEFGHIJKLMNOPQRSTUVWX", HT_TASK_NAME_LEN);
    return ht_fmt_task(b, c, &k, t);
}
static size_t task_int_min(char *b, size_t c, bool *t)
{
    ht_task_t k = mk_task("x", 0u, INT32_MIN, 0u);
    return ht_fmt_task(b, c, &k, t);
}
static size_t alloc(char *b, size_t c, bool *t) { return ht_fmt_alloc_failed(b, c, 4096u, 0x804u, "heap_caps_malloc", t); }
static size_t alloc_zero(char *b, size_t c, bool *t) { return ht_fmt_alloc_failed(b, c, 0u, 0u, NULL, t); }
static size_t alloc_max(char *b, size_t c, bool *t) { return ht_fmt_alloc_failed(b, c, UINT32_MAX, 0xFFFFFFFFu, "heap_caps_realloc", t); }
static size_t wm(char *b, size_t c, bool *t) { return ht_fmt_async_tcp_watermark(b, c, 2100u, 1u, 10240u, t); }
static size_t wm_words(char *b, size_t c, bool *t) { return ht_fmt_async_tcp_watermark(b, c, 525u, 4u, 16384u, t); }
static size_t wm_big(char *b, size_t c, bool *t) { return ht_fmt_async_tcp_watermark(b, c, UINT32_MAX, 4u, 0u, t); }
static size_t sfx(char *b, size_t c, bool *t) { return ht_fmt_log_suffix(b, c, 1234u, t); }
static size_t sfx0(char *b, size_t c, bool *t) { return ht_fmt_log_suffix(b, c, 0u, t); }
static size_t sfx_max(char *b, size_t c, bool *t) { return ht_fmt_log_suffix(b, c, UINT32_MAX, t); }

void test_format(void)
{
    check_formatter("mem hb", mem_hb,
        "[Mem] hb hf=20912 hm=18040 hl=9204 hi=20912 hin=18040 frag=55 "
        "pf=8271944 pm=8266852 pl=8257524");
    check_formatter("mem null tag", mem_null_tag,
        "[Mem] - hf=0 hm=0 hl=0 hi=0 hin=0 frag=0 pf=0 pm=0 pl=0");
    check_formatter("mem max", mem_max,
        "[Mem] lvgl_switch_pre_macro1 hf=4294967295 hm=4294967295 "
        "hl=4294967295 hi=4294967295 hin=4294967295 frag=0 pf=4294967295 "
        "pm=4294967295 pl=4294967295");
    check_formatter("mem frag from hi", mem_hi_differs,
        "[Mem] setup hf=100000 hm=1 hl=25000 hi=50000 hin=2 frag=50 pf=3 "
        "pm=4 pl=5");
    check_formatter("tripwire", trip,
        "[Mem] TRIPWIRE fired tag=http_root hin=21532B < 30720B (hf=22000B "
        "hl=9000B frag=59% pf=8200000B pl=8100000B)");
    check_formatter("tripwire null", trip_null,
        "[Mem] TRIPWIRE fired tag=- hin=0B < 0B (hf=0B hl=0B frag=0% pf=0B "
        "pl=0B)");
    check_formatter("task header", hdr,
        "[Mem] Task dump (14 tasks, sorted by stack margin) tag=http_root");
    check_formatter("task header null", hdr_null,
        "[Mem] Task dump (0 tasks, sorted by stack margin) tag=-");
    check_formatter("task ipc0", task_ipc0,
        "[Task] name=ipc0 prio=24 core=0 stack_rem=76B");
    check_formatter("task core -1", task_noaff_neg,
        "[Task] name=async_tcp prio=3 core=-1 stack_rem=2100B");
    check_formatter("task core max", task_noaff_max,
        "[Task] name=IDLE1 prio=0 core=2147483647 stack_rem=4294967295B");
    check_formatter("task full name", task_full_name,
        "[Task] name=ABCDEFGHIJKLMNOPQRSTUVWX prio=1 core=1 stack_rem=5B");
    check_formatter("task INT32_MIN", task_int_min,
        "[Task] name=x prio=0 core=-2147483648 stack_rem=0B");
    check_formatter("alloc failed", alloc,
        "[Mem] ALLOC_FAILED size=4096 caps=0x804 fn=heap_caps_malloc");
    check_formatter("alloc failed zero", alloc_zero,
        "[Mem] ALLOC_FAILED size=0 caps=0x0 fn=-");
    check_formatter("alloc failed max", alloc_max,
        "[Mem] ALLOC_FAILED size=4294967295 caps=0xffffffff "
        "fn=heap_caps_realloc");
    check_formatter("watermark", wm,
        "[Portal] AsyncTCP stack watermark: task=async_tcp rem=2100 units "
        "(2100 B), unit=1 B, CONFIG_ASYNC_TCP_STACK_SIZE(raw)=10240");
    check_formatter("watermark words", wm_words,
        "[Portal] AsyncTCP stack watermark: task=async_tcp rem=525 units "
        "(2100 B), unit=4 B, CONFIG_ASYNC_TCP_STACK_SIZE(raw)=16384");
    check_formatter("watermark 64-bit product", wm_big,
        "[Portal] AsyncTCP stack watermark: task=async_tcp rem=4294967295 "
        "units (17179869180 B), unit=4 B, CONFIG_ASYNC_TCP_STACK_SIZE(raw)=0");
    check_formatter("log suffix", sfx, " (1234ms)");
    check_formatter("log suffix 0", sfx0, " (0ms)");
    check_formatter("log suffix max", sfx_max, " (4294967295ms)");

    /* NULL buffer with cap > 0 must not be written */
    {
        bool t = false;
        CHECK(ht_fmt_log_suffix(NULL, 16u, 1u, &t) == 0u && t);
    }
    /* NULL snapshot / task are written as zeros, never dereferenced */
    {
        char b[128];
        ht_fmt_mem(b, sizeof b, "x", NULL, NULL);
        CHECK_STR(b, "[Mem] x hf=0 hm=0 hl=0 hi=0 hin=0 frag=0 pf=0 pm=0 pl=0");
        ht_fmt_task(b, sizeof b, NULL, NULL);
        CHECK_STR(b, "[Task] name=- prio=0 core=-1 stack_rem=0B");
    }
}
