/* ht_health.h - the GET /api/health JSON object, written without allocation.
 *
 * Every field is optional: unset values are written as JSON null. Strings
 * are `const char *` (NULL => null) and are only borrowed until
 * ht_health_json() returns. Keys are written in struct order.
 */
#ifndef HT_HEALTH_H
#define HT_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ht_snapshot.h"
#include "ht_window.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct { bool set; int64_t v; } ht_opt_i64;
typedef struct { bool set; double v; } ht_opt_f64;
typedef struct { bool set; bool v; } ht_opt_bool;

typedef struct {
    ht_opt_i64 uptime_seconds;
    const char *reset_reason;
    ht_opt_i64 cpu_freq;
    ht_opt_f64 cpu_usage;
    ht_opt_f64 cpu_temperature;
    ht_opt_i64 heap_free;
    ht_opt_i64 heap_min;
    ht_opt_i64 heap_size;
    ht_opt_i64 heap_largest;
    ht_opt_i64 heap_internal_free;
    ht_opt_i64 heap_internal_min;
    ht_opt_i64 heap_internal_largest;
    ht_opt_i64 heap_fragmentation;
    ht_opt_i64 psram_free;
    ht_opt_i64 psram_min;
    ht_opt_i64 psram_largest;
    ht_opt_i64 psram_fragmentation;
    ht_opt_i64 heap_internal_free_min_window;
    ht_opt_i64 heap_internal_free_max_window;
    ht_opt_i64 heap_internal_largest_min_window;
    ht_opt_i64 heap_fragmentation_max_window;
    ht_opt_i64 psram_free_min_window;
    ht_opt_i64 psram_free_max_window;
    ht_opt_i64 psram_largest_min_window;
    ht_opt_i64 psram_fragmentation_max_window;
    ht_opt_i64 flash_used;
    ht_opt_i64 flash_total;
    const char *fs_type;
    ht_opt_bool fs_mounted;
    ht_opt_i64 fs_used_bytes;
    ht_opt_i64 fs_total_bytes;
    ht_opt_bool mqtt_enabled;
    ht_opt_bool mqtt_publish_enabled;
    ht_opt_bool mqtt_connected;
    ht_opt_i64 mqtt_last_health_publish_ms;
    ht_opt_i64 mqtt_health_publish_age_ms;
    ht_opt_f64 display_fps;
    ht_opt_i64 display_lv_timer_us;
    ht_opt_i64 display_present_us;
    ht_opt_i64 wifi_rssi;
    ht_opt_i64 wifi_channel;
    const char *ip_address;
    const char *hostname;
} ht_health_t;

/* Convenience constructors for the optional values. */
ht_opt_i64 ht_i64(int64_t v);
ht_opt_f64 ht_f64(double v);
ht_opt_bool ht_bool(bool v);

/* Every field unset (null). */
void ht_health_init(ht_health_t *h);
/* heap_free=hf heap_min=hm heap_largest=hl heap_internal_free=hi
 * heap_internal_min=hin heap_internal_largest=hl
 * heap_fragmentation=frag(hi,hl) psram_free=pf psram_min=pm psram_largest=pl
 * psram_fragmentation=frag(pf,pl). */
void ht_health_set_snapshot(ht_health_t *h, const ht_snapshot_t *s);
/* Sets the eight *_window fields when w->samples > 0, else leaves them as
 * they are (null after ht_health_init). */
void ht_health_set_window(ht_health_t *h, const ht_window_t *w);
/* One compact JSON object. Strings are JSON-escaped (quote, backslash,
 * control characters as \u00XX); doubles get at most 2 decimals, NaN and
 * infinities are written as null. Same buffer contract as ht_format.h: on
 * truncation the (incomplete) text is still NUL-terminated and *truncated
 * is true. */
size_t ht_health_json(char *buf, size_t cap, const ht_health_t *h,
                      bool *truncated);

#ifdef __cplusplus
}
#endif

#endif /* HT_HEALTH_H */
