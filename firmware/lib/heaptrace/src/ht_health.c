#include "ht_health.h"

#include "ht_buf.h"

ht_opt_i64 ht_i64(int64_t v)
{
    ht_opt_i64 o;
    o.set = true;
    o.v = v;
    return o;
}

ht_opt_f64 ht_f64(double v)
{
    ht_opt_f64 o;
    o.set = true;
    o.v = v;
    return o;
}

ht_opt_bool ht_bool(bool v)
{
    ht_opt_bool o;
    o.set = true;
    o.v = v;
    return o;
}

void ht_health_init(ht_health_t *h)
{
    static const ht_health_t empty; /* zero-initialised: all unset, NULL */

    if (h != NULL) {
        *h = empty;
    }
}

void ht_health_set_snapshot(ht_health_t *h, const ht_snapshot_t *s)
{
    if (h == NULL || s == NULL) {
        return;
    }
    h->heap_free = ht_i64(s->hf);
    h->heap_min = ht_i64(s->hm);
    h->heap_largest = ht_i64(s->hl);
    h->heap_internal_free = ht_i64(s->hi);
    h->heap_internal_min = ht_i64(s->hin);
    h->heap_internal_largest = ht_i64(s->hl);
    h->heap_fragmentation = ht_i64(ht_frag_percent(s->hi, s->hl));
    h->psram_free = ht_i64(s->pf);
    h->psram_min = ht_i64(s->pm);
    h->psram_largest = ht_i64(s->pl);
    h->psram_fragmentation = ht_i64(ht_frag_percent(s->pf, s->pl));
}

void ht_health_set_window(ht_health_t *h, const ht_window_t *w)
{
    if (h == NULL || w == NULL || w->samples == 0u) {
        return;
    }
    h->heap_internal_free_min_window = ht_i64(w->internal_free_min);
    h->heap_internal_free_max_window = ht_i64(w->internal_free_max);
    h->heap_internal_largest_min_window = ht_i64(w->internal_largest_min);
    h->heap_fragmentation_max_window = ht_i64(w->internal_frag_max);
    h->psram_free_min_window = ht_i64(w->psram_free_min);
    h->psram_free_max_window = ht_i64(w->psram_free_max);
    h->psram_largest_min_window = ht_i64(w->psram_largest_min);
    h->psram_fragmentation_max_window = ht_i64(w->psram_frag_max);
}

/* ---- JSON value writers ------------------------------------------------ */

static void put_null(ht_buf_t *b)
{
    ht_buf_puts(b, "null");
}

static void put_str(ht_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    if (s == NULL) {
        put_null(b);
        return;
    }
    ht_buf_putc(b, '"');
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            ht_buf_putc(b, '\\');
            ht_buf_putc(b, (char)c);
        } else if (c < 0x20u || c == 0x7fu) {
            ht_buf_puts(b, "\\u00");
            ht_buf_putc(b, hex[c >> 4]);
            ht_buf_putc(b, hex[c & 0xfu]);
        } else {
            ht_buf_putc(b, (char)c);
        }
    }
    ht_buf_putc(b, '"');
}

static void put_i64(ht_buf_t *b, ht_opt_i64 o)
{
    if (o.set) {
        ht_buf_i64(b, o.v);
    } else {
        put_null(b);
    }
}

static void put_bool(ht_buf_t *b, ht_opt_bool o)
{
    if (!o.set) {
        put_null(b);
    } else {
        ht_buf_puts(b, o.v ? "true" : "false");
    }
}

/* "<int>[.d[d]]": rounded to 2 decimals, trailing zeros dropped. */
static void put_fixed2(ht_buf_t *b, uint64_t hundredths)
{
    uint64_t ip = hundredths / 100u;
    unsigned frac = (unsigned)(hundredths % 100u);

    ht_buf_u64(b, ip);
    if (frac != 0u) {
        ht_buf_putc(b, '.');
        ht_buf_putc(b, (char)('0' + frac / 10u));
        if (frac % 10u != 0u) {
            ht_buf_putc(b, (char)('0' + frac % 10u));
        }
    }
}

static void put_f64(ht_buf_t *b, ht_opt_f64 o)
{
    double v = o.v;
    bool neg;

    /* NaN compares unequal to itself; v - v is NaN for +-inf. */
    if (!o.set || v != v || (v - v) != (v - v)) {
        put_null(b);
        return;
    }
    neg = v < 0.0;
    if (neg) {
        v = -v;
    }
    if (v < 1e15) {
        uint64_t hundredths = (uint64_t)(v * 100.0 + 0.5);
        if (neg && hundredths != 0u) {
            ht_buf_putc(b, '-');
        }
        put_fixed2(b, hundredths);
    } else {
        /* huge: d[.dd]e+NN with the mantissa rounded to 2 decimals */
        unsigned exp10 = 0u;
        uint64_t m;
        while (v >= 10.0) {
            v /= 10.0;
            exp10++;
        }
        m = (uint64_t)(v * 100.0 + 0.5);
        if (m >= 1000u) {
            m /= 10u;
            exp10++;
        }
        if (neg) {
            ht_buf_putc(b, '-');
        }
        put_fixed2(b, m);
        ht_buf_puts(b, "e+");
        ht_buf_u32(b, exp10);
    }
}

/* ---- the object -------------------------------------------------------- */

static void key(ht_buf_t *b, const char *name, bool *first)
{
    if (!*first) {
        ht_buf_putc(b, ',');
    }
    *first = false;
    ht_buf_putc(b, '"');
    ht_buf_puts(b, name);
    ht_buf_puts(b, "\":");
}

#define HT_I64(f)  do { key(&b, #f, &first); put_i64(&b, h->f); } while (0)
#define HT_F64(f)  do { key(&b, #f, &first); put_f64(&b, h->f); } while (0)
#define HT_BOOL(f) do { key(&b, #f, &first); put_bool(&b, h->f); } while (0)
#define HT_STR(f)  do { key(&b, #f, &first); put_str(&b, h->f); } while (0)

size_t ht_health_json(char *buf, size_t cap, const ht_health_t *h,
                      bool *truncated)
{
    static const ht_health_t empty;
    ht_buf_t b;
    bool first = true;

    if (h == NULL) {
        h = &empty;
    }
    ht_buf_init(&b, buf, cap);
    ht_buf_putc(&b, '{');
    HT_I64(uptime_seconds);
    HT_STR(reset_reason);
    HT_I64(cpu_freq);
    HT_F64(cpu_usage);
    HT_F64(cpu_temperature);
    HT_I64(heap_free);
    HT_I64(heap_min);
    HT_I64(heap_size);
    HT_I64(heap_largest);
    HT_I64(heap_internal_free);
    HT_I64(heap_internal_min);
    HT_I64(heap_internal_largest);
    HT_I64(heap_fragmentation);
    HT_I64(psram_free);
    HT_I64(psram_min);
    HT_I64(psram_largest);
    HT_I64(psram_fragmentation);
    HT_I64(heap_internal_free_min_window);
    HT_I64(heap_internal_free_max_window);
    HT_I64(heap_internal_largest_min_window);
    HT_I64(heap_fragmentation_max_window);
    HT_I64(psram_free_min_window);
    HT_I64(psram_free_max_window);
    HT_I64(psram_largest_min_window);
    HT_I64(psram_fragmentation_max_window);
    HT_I64(flash_used);
    HT_I64(flash_total);
    HT_STR(fs_type);
    HT_BOOL(fs_mounted);
    HT_I64(fs_used_bytes);
    HT_I64(fs_total_bytes);
    HT_BOOL(mqtt_enabled);
    HT_BOOL(mqtt_publish_enabled);
    HT_BOOL(mqtt_connected);
    HT_I64(mqtt_last_health_publish_ms);
    HT_I64(mqtt_health_publish_age_ms);
    HT_F64(display_fps);
    HT_I64(display_lv_timer_us);
    HT_I64(display_present_us);
    HT_I64(wifi_rssi);
    HT_I64(wifi_channel);
    HT_STR(ip_address);
    HT_STR(hostname);
    ht_buf_putc(&b, '}');
    return ht_buf_finish(&b, truncated);
}
