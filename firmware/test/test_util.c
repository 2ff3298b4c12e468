#define _POSIX_C_SOURCE 200809L
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned g_passed;
unsigned g_failed;

void check_impl(bool ok, const char *expr, const char *file, int line)
{
    if (ok) {
        g_passed++;
    } else {
        g_failed++;
        fprintf(stderr, "FAIL %s:%d: %s\n", file, line, expr);
    }
}

void check_str_impl(const char *got, const char *want, const char *file,
                    int line)
{
    bool ok = got != NULL && want != NULL && strcmp(got, want) == 0;
    if (ok) {
        g_passed++;
    } else {
        g_failed++;
        fprintf(stderr, "FAIL %s:%d:\n  got:  \"%s\"\n  want: \"%s\"\n", file,
                line, got ? got : "(null)", want ? want : "(null)");
    }
}

#define GUARD 32u
#define CANARY 0xA5u

void check_formatter(const char *name, fmt_fn fn, const char *want)
{
    static char full[8192];
    bool trunc = true;
    size_t len = fn(full, sizeof full, &trunc);
    size_t cap;
    unsigned bad = 0;

    if (want != NULL) {
        CHECK_STR(full, want);
    }
    CHECK(len == strlen(full));
    CHECK(!trunc);
    CHECK(fn(full, sizeof full, NULL) == len); /* NULL flag pointer is fine */

    for (cap = 0; cap <= len + 1; cap++) {
        /* exact-size region inside a guarded heap block: the canary catches
         * stray writes, ASan catches anything further out */
        unsigned char *block = malloc(cap + 2u * GUARD);
        char *buf = (char *)block + GUARD;
        size_t i, n, expect_n = cap == 0 ? 0 : (cap - 1 < len ? cap - 1 : len);
        bool t = !(cap <= len);
        bool ok = true;

        if (block == NULL) {
            abort();
        }
        memset(block, CANARY, cap + 2u * GUARD);
        n = fn(buf, cap, &t);
        for (i = 0; i < GUARD; i++) {
            ok &= block[i] == CANARY;
            ok &= block[GUARD + cap + i] == CANARY;
        }
        ok &= n == expect_n;
        ok &= t == (cap <= len);
        if (cap > 0) {
            ok &= buf[n] == '\0';
            ok &= strlen(buf) == n;
            ok &= memcmp(buf, full, n) == 0;
        }
        if (!ok) {
            bad++;
            fprintf(stderr, "FAIL %s: cap=%zu returned %zu truncated=%d\n",
                    name, cap, n, (int)t);
        }
        free(block);
    }
    CHECK(bad == 0);
}

/* ---- JSON validator ----------------------------------------------------- */

static const char *ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
        p++;
    }
    return p;
}

static const char *value(const char *p, int depth);

static const char *string(const char *p)
{
    if (*p != '"') {
        return NULL;
    }
    p++;
    for (;;) {
        unsigned char c = (unsigned char)*p;
        if (c == '\0' || c < 0x20) {
            return NULL;
        }
        if (c == '"') {
            return p + 1;
        }
        if (c == '\\') {
            p++;
            if (*p == 'u') {
                int i;
                for (i = 1; i <= 4; i++) {
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || p[i] == '\0') {
                        return NULL;
                    }
                }
                p += 5;
                continue;
            }
            if (*p == '\0' || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
        p++;
    }
}

static bool digit(char c) { return c >= '0' && c <= '9'; }

static const char *number(const char *p)
{
    if (*p == '-') {
        p++;
    }
    if (*p == '0') {
        p++;
    } else if (digit(*p)) {
        while (digit(*p)) {
            p++;
        }
    } else {
        return NULL;
    }
    if (*p == '.') {
        p++;
        if (!digit(*p)) {
            return NULL;
        }
        while (digit(*p)) {
            p++;
        }
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') {
            p++;
        }
        if (!digit(*p)) {
            return NULL;
        }
        while (digit(*p)) {
            p++;
        }
    }
    return p;
}

static const char *container(const char *p, int depth, char close, bool obj)
{
    p = ws(p + 1);
    if (*p == close) {
        return p + 1;
    }
    for (;;) {
        if (obj) {
            p = string(ws(p));
            if (p == NULL) {
                return NULL;
            }
            p = ws(p);
            if (*p != ':') {
                return NULL;
            }
            p++;
        }
        p = value(p, depth + 1);
        if (p == NULL) {
            return NULL;
        }
        p = ws(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == close) {
            return p + 1;
        }
        return NULL;
    }
}

static const char *value(const char *p, int depth)
{
    if (depth > 64) {
        return NULL;
    }
    p = ws(p);
    switch (*p) {
    case '{': return container(p, depth, '}', true);
    case '[': return container(p, depth, ']', false);
    case '"': return string(p);
    case 't': return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f': return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n': return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default: return number(p);
    }
}

bool json_valid(const char *s)
{
    const char *end = value(s, 0);
    return end != NULL && *ws(end) == '\0';
}

/* ---- python3 cross-check ------------------------------------------------ */

bool python_json_check(const char *json, const char *keys_csv,
                       const char *check_key, const char *want_hex)
{
    static bool warned;
    char cmd[4096];
    FILE *f;
    int rc;

    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        if (!warned) {
            fprintf(stderr, "note: python3 not found, C JSON validator only\n");
            warned = true;
        }
        return true;
    }
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json,sys\n"
             "d=json.load(sys.stdin)\n"
             "assert isinstance(d,dict)\n"
             "k=sys.argv[1]\n"
             "assert not k or list(d)==k.split(\",\"), list(d)\n"
             "n=sys.argv[2]\n"
             "assert not n or d[n]==bytes.fromhex(sys.argv[3]).decode(), d[n]\n"
             "' '%s' '%s' '%s'",
             keys_csv ? keys_csv : "", check_key ? check_key : "",
             want_hex ? want_hex : "");
    f = popen(cmd, "w");
    if (f == NULL) {
        return false;
    }
    fputs(json, f);
    rc = pclose(f);
    return rc == 0;
}
