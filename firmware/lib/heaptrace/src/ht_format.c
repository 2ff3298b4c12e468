#include "ht_format.h"

#include "ht_buf.h"

/* A snapshot pointer may be NULL: then every value is written as 0. */
static const ht_snapshot_t *snap_or_zero(const ht_snapshot_t *s)
{
    static const ht_snapshot_t zero = {0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u};
    return s != NULL ? s : &zero;
}

size_t ht_fmt_mem(char *buf, size_t cap, const char *tag,
                  const ht_snapshot_t *s, bool *truncated)
{
    ht_buf_t b;

    s = snap_or_zero(s);
    ht_buf_init(&b, buf, cap);
    ht_buf_puts(&b, "[Mem] ");
    ht_buf_puts(&b, tag);
    ht_buf_puts(&b, " hf=");
    ht_buf_u32(&b, s->hf);
    ht_buf_puts(&b, " hm=");
    ht_buf_u32(&b, s->hm);
    ht_buf_puts(&b, " hl=");
    ht_buf_u32(&b, s->hl);
    ht_buf_puts(&b, " hi=");
    ht_buf_u32(&b, s->hi);
    ht_buf_puts(&b, " hin=");
    ht_buf_u32(&b, s->hin);
    ht_buf_puts(&b, " frag=");
    ht_buf_u32(&b, ht_frag_percent(s->hi, s->hl));
    ht_buf_puts(&b, " pf=");
    ht_buf_u32(&b, s->pf);
    ht_buf_puts(&b, " pm=");
    ht_buf_u32(&b, s->pm);
    ht_buf_puts(&b, " pl=");
    ht_buf_u32(&b, s->pl);
    return ht_buf_finish(&b, truncated);
}

size_t ht_fmt_tripwire(char *buf, size_t cap, const char *tag,
                       const ht_snapshot_t *s, uint32_t threshold,
                       bool *truncated)
{
    ht_buf_t b;

    s = snap_or_zero(s);
    ht_buf_init(&b, buf, cap);
    ht_buf_puts(&b, "[Mem] TRIPWIRE fired tag=");
    ht_buf_puts(&b, tag);
    ht_buf_puts(&b, " hin=");
    ht_buf_u32(&b, s->hin);
    ht_buf_puts(&b, "B < ");
    ht_buf_u32(&b, threshold);
    ht_buf_puts(&b, "B (hf=");
    ht_buf_u32(&b, s->hf);
    ht_buf_puts(&b, "B hl=");
    ht_buf_u32(&b, s->hl);
    ht_buf_puts(&b, "B frag=");
    ht_buf_u32(&b, ht_frag_percent(s->hi, s->hl));
    ht_buf_puts(&b, "% pf=");
    ht_buf_u32(&b, s->pf);
    ht_buf_puts(&b, "B pl=");
    ht_buf_u32(&b, s->pl);
    ht_buf_puts(&b, "B)");
    return ht_buf_finish(&b, truncated);
}

size_t ht_fmt_task_header(char *buf, size_t cap, uint32_t task_count,
                          const char *tag, bool *truncated)
{
    ht_buf_t b;

    ht_buf_init(&b, buf, cap);
    ht_buf_puts(&b, "[Mem] Task dump (");
    ht_buf_u32(&b, task_count);
    ht_buf_puts(&b, " tasks, sorted by stack margin) tag=");
    ht_buf_puts(&b, tag);
    return ht_buf_finish(&b, truncated);
}

size_t ht_fmt_task(char *buf, size_t cap, const ht_task_t *t, bool *truncated)
{
    ht_buf_t b;

    ht_buf_init(&b, buf, cap);
    ht_buf_puts(&b, "[Task] name=");
    if (t == NULL) {
        ht_buf_puts(&b, "- prio=0 core=-1 stack_rem=0B");
        return ht_buf_finish(&b, truncated);
    }
    if (t->name[0] == '\0') {
        ht_buf_putc(&b, '-');
    } else {
        /* the name may fill all HT_TASK_NAME_LEN bytes without a NUL */
        ht_buf_putsn(&b, t->name, HT_TASK_NAME_LEN);
    }
    ht_buf_puts(&b, " prio=");
    ht_buf_u32(&b, t->prio);
    ht_buf_puts(&b, " core=");
    ht_buf_i32(&b, t->core);
    ht_buf_puts(&b, " stack_rem=");
    ht_buf_u32(&b, t->stack_rem);
    ht_buf_putc(&b, 'B');
    return ht_buf_finish(&b, truncated);
}

size_t ht_fmt_alloc_failed(char *buf, size_t cap, uint32_t size,
                           uint32_t caps, const char *fn, bool *truncated)
{
    ht_buf_t b;

    ht_buf_init(&b, buf, cap);
    ht_buf_puts(&b, "[Mem] ALLOC_FAILED size=");
    ht_buf_u32(&b, size);
    ht_buf_puts(&b, " caps=0x");
    ht_buf_hex32(&b, caps);
    ht_buf_puts(&b, " fn=");
    ht_buf_puts(&b, fn);
    return ht_buf_finish(&b, truncated);
}

size_t ht_fmt_async_tcp_watermark(char *buf, size_t cap, uint32_t rem_units,
                                  uint32_t unit_bytes, uint32_t stack_size_raw,
                                  bool *truncated)
{
    ht_buf_t b;

    ht_buf_init(&b, buf, cap);
    ht_buf_puts(&b, "[Portal] AsyncTCP stack watermark: task=async_tcp rem=");
    ht_buf_u32(&b, rem_units);
    ht_buf_puts(&b, " units (");
    ht_buf_u64(&b, (uint64_t)rem_units * (uint64_t)unit_bytes);
    ht_buf_puts(&b, " B), unit=");
    ht_buf_u32(&b, unit_bytes);
    ht_buf_puts(&b, " B, CONFIG_ASYNC_TCP_STACK_SIZE(raw)=");
    ht_buf_u32(&b, stack_size_raw);
    return ht_buf_finish(&b, truncated);
}

size_t ht_fmt_log_suffix(char *buf, size_t cap, uint32_t elapsed_ms,
                         bool *truncated)
{
    ht_buf_t b;

    ht_buf_init(&b, buf, cap);
    ht_buf_puts(&b, " (");
    ht_buf_u32(&b, elapsed_ms);
    ht_buf_puts(&b, "ms)");
    return ht_buf_finish(&b, truncated);
}
