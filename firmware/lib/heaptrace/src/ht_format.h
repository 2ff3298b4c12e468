/* ht_format.h - the serial protocol lines, formatted without allocation.
 *
 * Every formatter writes at most cap-1 characters plus a NUL (when cap > 0),
 * returns the number of characters written (excluding the NUL), and sets
 * *truncated (when the pointer is non-NULL) to true if the full line did not
 * fit, false otherwise. No trailing newline. A NULL tag/name/fn is written as
 * "-"; other strings are written as given.
 */
#ifndef HT_FORMAT_H
#define HT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ht_snapshot.h"
#include "ht_task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* [Mem] <tag> hf=.. hm=.. hl=.. hi=.. hin=.. frag=.. pf=.. pm=.. pl=..
 * frag = ht_frag_percent(s->hi, s->hl) */
size_t ht_fmt_mem(char *buf, size_t cap, const char *tag,
                  const ht_snapshot_t *s, bool *truncated);

/* [Mem] TRIPWIRE fired tag=<tag> hin=<hin>B < <threshold>B
 *   (hf=<hf>B hl=<hl>B frag=<frag>% pf=<pf>B pl=<pl>B)   (one line) */
size_t ht_fmt_tripwire(char *buf, size_t cap, const char *tag,
                       const ht_snapshot_t *s, uint32_t threshold,
                       bool *truncated);

/* [Mem] Task dump (<n> tasks, sorted by stack margin) tag=<tag> */
size_t ht_fmt_task_header(char *buf, size_t cap, uint32_t task_count,
                          const char *tag, bool *truncated);

/* [Task] name=<name> prio=<prio> core=<core> stack_rem=<stack_rem>B */
size_t ht_fmt_task(char *buf, size_t cap, const ht_task_t *t, bool *truncated);

/* [Mem] ALLOC_FAILED size=<size> caps=0x<hex> fn=<fn> */
size_t ht_fmt_alloc_failed(char *buf, size_t cap, uint32_t size,
                           uint32_t caps, const char *fn, bool *truncated);

/* [Portal] AsyncTCP stack watermark: task=async_tcp rem=<r> units (<r*u> B),
 *   unit=<u> B, CONFIG_ASYNC_TCP_STACK_SIZE(raw)=<raw>   (one line) */
size_t ht_fmt_async_tcp_watermark(char *buf, size_t cap, uint32_t rem_units,
                                  uint32_t unit_bytes, uint32_t stack_size_raw,
                                  bool *truncated);

/* " (<N>ms)" - the logger appends it to a message. */
size_t ht_fmt_log_suffix(char *buf, size_t cap, uint32_t elapsed_ms,
                         bool *truncated);

#ifdef __cplusplus
}
#endif

#endif /* HT_FORMAT_H */
