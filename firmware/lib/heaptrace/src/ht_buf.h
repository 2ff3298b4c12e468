/* ht_buf.h - bounded, allocation-free text writer used by the formatters.
 *
 * Writes at most cap-1 characters plus a terminating NUL (when cap > 0).
 * Once a character does not fit, nothing more is written and the writer
 * remembers that the output was truncated, so the buffer always holds an
 * exact prefix of the full text.
 */
#ifndef HT_BUF_H
#define HT_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *buf;
    size_t cap;
    size_t len;
    bool truncated;
} ht_buf_t;

void ht_buf_init(ht_buf_t *b, char *buf, size_t cap);
void ht_buf_putc(ht_buf_t *b, char c);
/* NULL is written as "-". */
void ht_buf_puts(ht_buf_t *b, const char *s);
/* At most n characters of s, stopping early at a NUL. */
void ht_buf_putsn(ht_buf_t *b, const char *s, size_t n);
void ht_buf_u32(ht_buf_t *b, uint32_t v);
void ht_buf_u64(ht_buf_t *b, uint64_t v);
void ht_buf_i32(ht_buf_t *b, int32_t v);
void ht_buf_i64(ht_buf_t *b, int64_t v);
/* Lowercase hex, no prefix, no padding. */
void ht_buf_hex32(ht_buf_t *b, uint32_t v);
/* NUL-terminates, reports truncation (if the pointer is non-NULL) and
 * returns the number of characters written (excluding the NUL). */
size_t ht_buf_finish(ht_buf_t *b, bool *truncated);

#ifdef __cplusplus
}
#endif

#endif /* HT_BUF_H */
