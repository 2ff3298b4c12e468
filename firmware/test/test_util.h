/* test_util.h - tiny test framework, canary buffers and a JSON validator. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

extern unsigned g_passed;
extern unsigned g_failed;

void check_impl(bool ok, const char *expr, const char *file, int line);
void check_str_impl(const char *got, const char *want, const char *file,
                    int line);

#define CHECK(cond) check_impl((cond), #cond, __FILE__, __LINE__)
#define CHECK_STR(got, want) check_str_impl((got), (want), __FILE__, __LINE__)

/* A formatter bound to its arguments: same contract as ht_fmt_*. */
typedef size_t (*fmt_fn)(char *buf, size_t cap, bool *truncated);

/* Formats into a large buffer, compares with want (if non-NULL), then
 * formats again at every cap from 0 to strlen+1 into a canary-guarded
 * heap buffer and checks: no byte outside [0, cap) touched, NUL-terminated,
 * exact prefix, return == strlen, truncated flag right, NULL flag ok. */
void check_formatter(const char *name, fmt_fn fn, const char *want);

/* Strict RFC 8259 validator for one JSON value (whole input). */
bool json_valid(const char *s);

/* Runs python3 (when installed) on the JSON: it must parse as an object;
 * when keys_csv is non-NULL its keys must equal that list in order; when
 * check_key is non-NULL the value of that key must equal want_hex decoded.
 * Returns true when python3 is absent (the C validator still runs). */
bool python_json_check(const char *json, const char *keys_csv,
                       const char *check_key, const char *want_hex);

void test_format(void);
void test_core(void);
void test_health(void);

#endif
