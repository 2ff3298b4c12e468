/* /api/health JSON: all-null, all-set, escapes, doubles, truncation. */
#include "test_util.h"

#include <stdio.h>
#include <string.h>

#include "heaptrace.h"

static const char *const KEYS[] = {
    "uptime_seconds", "reset_reason", "cpu_freq", "cpu_usage",
    "cpu_temperature", "heap_free", "heap_min", "heap_size", "heap_largest",
    "heap_internal_free", "heap_internal_min", "heap_internal_largest",
    "heap_fragmentation", "psram_free", "psram_min", "psram_largest",
    "psram_fragmentation", "heap_internal_free_min_window",
    "heap_internal_free_max_window", "heap_internal_largest_min_window",
    "heap_fragmentation_max_window", "psram_free_min_window",
    "psram_free_max_window", "psram_largest_min_window",
    "psram_fragmentation_max_window", "flash_used", "flash_total", "fs_type",
    "fs_mounted", "fs_used_bytes", "fs_total_bytes", "mqtt_enabled",
    "mqtt_publish_enabled", "mqtt_connected", "mqtt_last_health_publish_ms",
    "mqtt_health_publish_age_ms", "display_fps", "display_lv_timer_us",
    "display_present_us", "wifi_rssi", "wifi_channel", "ip_address",
    "hostname"};
#define NKEYS (sizeof KEYS / sizeof KEYS[0])

static char g_keys_csv[2048];
static char g_json[4096];
static ht_health_t g_h; /* the fixture bound to the truncation adapter */

static size_t health_fmt(char *b, size_t c, bool *t)
{
    return ht_health_json(b, c, &g_h, t);
}

static void keys_csv(void)
{
    size_t i;
    g_keys_csv[0] = '\0';
    for (i = 0; i < NKEYS; i++) {
        if (i > 0) {
            strcat(g_keys_csv, ",");
        }
        strcat(g_keys_csv, KEYS[i]);
    }
}

static void test_all_null(void)
{
    char want[4096];
    size_t i;
    bool t = true;

    want[0] = '{';
    want[1] = '\0';
    for (i = 0; i < NKEYS; i++) {
        char item[96];
        snprintf(item, sizeof item, "%s\"%s\":null", i ? "," : "", KEYS[i]);
        strcat(want, item);
    }
    strcat(want, "}");

    ht_health_init(&g_h);
    CHECK(ht_health_json(g_json, sizeof g_json, &g_h, &t) == strlen(want));
    CHECK(!t);
    CHECK_STR(g_json, want);
    CHECK(json_valid(g_json));
    CHECK(python_json_check(g_json, g_keys_csv, NULL, NULL));
    check_formatter("health all-null", health_fmt, want);

    /* NULL health pointer writes the all-null object */
    ht_health_json(g_json, sizeof g_json, NULL, NULL);
    CHECK_STR(g_json, want);
}

static void fill_all(ht_health_t *h)
{
    ht_snapshot_t s = {20912u, 18040u, 9204u, 20912u, 18040u, 8271944u,
                       8266852u, 8257524u};
    ht_window_t w;
    ht_snapshot_t lo = {1u, 1u, 8000u, 19000u, 1u, 8200000u, 1u, 8100000u};

    ht_health_init(h);
    ht_window_reset(&w);
    ht_window_update(&w, &s);
    ht_window_update(&w, &lo);

    h->uptime_seconds = ht_i64(3600);
    h->reset_reason = "POWERON";
    h->cpu_freq = ht_i64(240);
    h->cpu_usage = ht_f64(12.5);
    h->cpu_temperature = ht_f64(-3.75);
    ht_health_set_snapshot(h, &s);
    h->heap_size = ht_i64(327680);
    ht_health_set_window(h, &w);
    h->flash_used = ht_i64(1234567);
    h->flash_total = ht_i64(8388608);
    h->fs_type = "FFat";
    h->fs_mounted = ht_bool(true);
    h->fs_used_bytes = ht_i64(0);
    h->fs_total_bytes = ht_i64(INT64_MAX);
    h->mqtt_enabled = ht_bool(false);
    h->mqtt_publish_enabled = ht_bool(false);
    h->mqtt_connected = ht_bool(false);
    h->mqtt_last_health_publish_ms = ht_i64(INT64_MIN);
    h->mqtt_health_publish_age_ms = ht_i64(-1);
    h->display_fps = ht_f64(0.1);
    h->display_lv_timer_us = ht_i64(1500);
    h->display_present_us = ht_i64(8000);
    h->wifi_rssi = ht_i64(-61);
    h->wifi_channel = ht_i64(6);
    h->ip_address = "192.168.1.112";
    h->hostname = "desk-s3";
}

static void test_all_set(void)
{
    static const char want[] =
        "{\"uptime_seconds\":3600,\"reset_reason\":\"POWERON\","
        "\"cpu_freq\":240,\"cpu_usage\":12.5,\"cpu_temperature\":-3.75,"
        "\"heap_free\":20912,\"heap_min\":18040,\"heap_size\":327680,"
        "\"heap_largest\":9204,\"heap_internal_free\":20912,"
        "\"heap_internal_min\":18040,\"heap_internal_largest\":9204,"
        "\"heap_fragmentation\":55,\"psram_free\":8271944,"
        "\"psram_min\":8266852,\"psram_largest\":8257524,"
        "\"psram_fragmentation\":0,"
        "\"heap_internal_free_min_window\":19000,"
        "\"heap_internal_free_max_window\":20912,"
        "\"heap_internal_largest_min_window\":8000,"
        "\"heap_fragmentation_max_window\":57,"
        "\"psram_free_min_window\":8200000,"
        "\"psram_free_max_window\":8271944,"
        "\"psram_largest_min_window\":8100000,"
        "\"psram_fragmentation_max_window\":1,"
        "\"flash_used\":1234567,\"flash_total\":8388608,\"fs_type\":\"FFat\","
        "\"fs_mounted\":true,\"fs_used_bytes\":0,"
        "\"fs_total_bytes\":9223372036854775807,\"mqtt_enabled\":false,"
        "\"mqtt_publish_enabled\":false,\"mqtt_connected\":false,"
        "\"mqtt_last_health_publish_ms\":-9223372036854775808,"
        "\"mqtt_health_publish_age_ms\":-1,\"display_fps\":0.1,"
        "\"display_lv_timer_us\":1500,\"display_present_us\":8000,"
        "\"wifi_rssi\":-61,\"wifi_channel\":6,"
        "\"ip_address\":\"192.168.1.112\",\"hostname\":\"desk-s3\"}";
    bool t = true;

    fill_all(&g_h);
    CHECK(ht_health_json(g_json, sizeof g_json, &g_h, &t) == strlen(want));
    CHECK(!t);
    CHECK_STR(g_json, want);
    CHECK(json_valid(g_json));
    CHECK(python_json_check(g_json, g_keys_csv, "hostname", "6465736b2d7333"));
    check_formatter("health all-set", health_fmt, want);
}

static void test_window_unset(void)
{
    ht_window_t w;
    ht_window_reset(&w);
    ht_health_init(&g_h);
    ht_health_set_window(&g_h, &w); /* no samples: stays null */
    ht_health_json(g_json, sizeof g_json, &g_h, NULL);
    CHECK(strstr(g_json, "\"heap_internal_free_min_window\":null") != NULL);
    CHECK(strstr(g_json, "\"psram_fragmentation_max_window\":null") != NULL);
}

static void test_escapes(void)
{
    /* quote, backslash, newline, tab, 0x01, 0x1f, DEL, '/' and UTF-8 */
    static const char host[] = "a\"b\\c\nd\te\x01" "f\x1fg\x7fh/\xc3\xa9";
    static const char want_host[] =
        "\"hostname\":\"a\\\"b\\\\c\\u000ad\\u0009e\\u0001f\\u001fg\\u007fh/"
        "\xc3\xa9\"}";
    char hex[128];
    size_t i;

    ht_health_init(&g_h);
    g_h.hostname = host;
    g_h.reset_reason = "";
    g_h.ip_address = "\"\"";
    ht_health_json(g_json, sizeof g_json, &g_h, NULL);
    CHECK(strlen(g_json) >= strlen(want_host) &&
          strcmp(g_json + strlen(g_json) - strlen(want_host), want_host) == 0);
    CHECK(strstr(g_json, "\"reset_reason\":\"\",") != NULL);
    CHECK(strstr(g_json, "\"ip_address\":\"\\\"\\\"\",") != NULL);
    CHECK(json_valid(g_json));
    for (i = 0; host[i] != '\0'; i++) {
        snprintf(hex + 2 * i, 3, "%02x", (unsigned)(unsigned char)host[i]);
    }
    CHECK(python_json_check(g_json, g_keys_csv, "hostname", hex));
    check_formatter("health escapes", health_fmt, NULL);
}

static const char *fmt_double(double v)
{
    static char out[64];
    const char *p, *e;
    ht_health_init(&g_h);
    g_h.cpu_usage = ht_f64(v);
    ht_health_json(g_json, sizeof g_json, &g_h, NULL);
    p = strstr(g_json, "\"cpu_usage\":") + strlen("\"cpu_usage\":");
    e = strchr(p, ',');
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    CHECK(json_valid(g_json));
    return out;
}

static void test_doubles(void)
{
    volatile double zero = 0.0;
    CHECK_STR(fmt_double(12.5), "12.5");
    CHECK_STR(fmt_double(0.25), "0.25");
    CHECK_STR(fmt_double(-3.75), "-3.75");
    CHECK_STR(fmt_double(42.0), "42");
    CHECK_STR(fmt_double(0.0), "0");
    CHECK_STR(fmt_double(-0.0), "0");
    CHECK_STR(fmt_double(-0.001), "0");
    CHECK_STR(fmt_double(0.1), "0.1");
    CHECK_STR(fmt_double(99.999), "100");
    CHECK_STR(fmt_double(1.07), "1.07");
    CHECK_STR(fmt_double(-1.5), "-1.5");
    CHECK_STR(fmt_double(123456789.5), "123456789.5");
    CHECK_STR(fmt_double(1e20), "1e+20");
    CHECK_STR(fmt_double(-2.5e300), "-2.5e+300");
    CHECK_STR(fmt_double(zero / zero), "null");  /* NaN */
    CHECK_STR(fmt_double(1.0 / zero), "null");   /* +inf */
    CHECK_STR(fmt_double(-1.0 / zero), "null");  /* -inf */
}

void test_health(void)
{
    keys_csv();
    test_all_null();
    test_all_set();
    test_window_unset();
    test_escapes();
    test_doubles();
}
