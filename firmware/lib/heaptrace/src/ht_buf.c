#include "ht_buf.h"

void ht_buf_init(ht_buf_t *b, char *buf, size_t cap)
{
    b->buf = buf;
    b->cap = (buf == NULL) ? 0u : cap;
    b->len = 0u;
    b->truncated = false;
    if (b->cap > 0u) {
        b->buf[0] = '\0';
    }
}

void ht_buf_putc(ht_buf_t *b, char c)
{
    if (!b->truncated && b->len + 1u < b->cap) {
        b->buf[b->len++] = c;
    } else {
        b->truncated = true;
    }
}

void ht_buf_puts(ht_buf_t *b, const char *s)
{
    if (s == NULL) {
        s = "-";
    }
    while (*s != '\0' && !b->truncated) {
        ht_buf_putc(b, *s++);
    }
    if (*s != '\0') {
        b->truncated = true;
    }
}

void ht_buf_putsn(ht_buf_t *b, const char *s, size_t n)
{
    size_t i;

    if (s == NULL) {
        ht_buf_puts(b, NULL);
        return;
    }
    for (i = 0u; i < n && s[i] != '\0'; i++) {
        ht_buf_putc(b, s[i]);
    }
}

void ht_buf_u64(ht_buf_t *b, uint64_t v)
{
    char tmp[20]; /* UINT64_MAX has 20 digits */
    size_t n = 0u;

    do {
        tmp[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (n > 0u) {
        ht_buf_putc(b, tmp[--n]);
    }
}

void ht_buf_u32(ht_buf_t *b, uint32_t v)
{
    ht_buf_u64(b, (uint64_t)v);
}

void ht_buf_i64(ht_buf_t *b, int64_t v)
{
    if (v < 0) {
        ht_buf_putc(b, '-');
        /* well defined for INT64_MIN as well */
        ht_buf_u64(b, (uint64_t)0u - (uint64_t)v);
    } else {
        ht_buf_u64(b, (uint64_t)v);
    }
}

void ht_buf_i32(ht_buf_t *b, int32_t v)
{
    ht_buf_i64(b, (int64_t)v);
}

void ht_buf_hex32(ht_buf_t *b, uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[8];
    size_t n = 0u;

    do {
        tmp[n++] = digits[v & 0xfu];
        v >>= 4;
    } while (v != 0u);
    while (n > 0u) {
        ht_buf_putc(b, tmp[--n]);
    }
}

size_t ht_buf_finish(ht_buf_t *b, bool *truncated)
{
    if (b->cap > 0u) {
        b->buf[b->len] = '\0';
    }
    if (truncated != NULL) {
        *truncated = b->truncated;
    }
    return b->len;
}
