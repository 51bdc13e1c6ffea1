/*
 * fuzz_cli_parse - the CLI's pure parsers and formatters (src/cli/parse.c,
 * compiled into this harness) on arbitrary strings.
 *
 * Beyond "no crash": each parser is compared with a slow reference written
 * from its documented contract (cli.h), results stay in their ranges, a
 * parsed size or mode survives the formatter and a second parse (exactly,
 * when the formatter's output is exact), and formatters never write past
 * the length they are given (exact-size heap buffers, so ASan sees it).
 *
 * Input: byte 0 picks the function; for cli_parse_uint bytes 1-16 are min
 * and max; the rest is the string (it ends at the first NUL).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "fuzz_common.h"

#define FAIL(...)                                                            \
    do {                                                                     \
        fprintf(stderr, "fuzz_cli_parse: " __VA_ARGS__);                     \
        fprintf(stderr, "\n");                                               \
        abort();                                                             \
    } while (0)

static volatile size_t sink;

/* Reference for cli_parse_size, from cli.h's contract. */
static int ref_size(const char *s, uint64_t *out)
{
    static const char *sfx[] = {"", "b", "k", "kb", "kib", "m", "mb", "mib",
                                "g", "gb", "gib", "t", "tb", "tib"};
    static const unsigned shift[] = {0, 0, 10, 10, 10, 20, 20, 20,
                                     30, 30, 30, 40, 40, 40};
    unsigned __int128 v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        if (v < ((unsigned __int128)1 << 100))
            v = v * 10 + (unsigned)(*p - '0');
        p++;
    }
    if (p == s)
        return -EINVAL;
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        if (strcasecmp(p, sfx[i]) != 0)
            continue;
        if (v == 0)
            return -ERANGE;
        if (v > ((unsigned __int128)UINT64_MAX >> shift[i]))
            return -ERANGE;
        *out = (uint64_t)(v << shift[i]);
        return 0;
    }
    return -EINVAL;
}

/* Formats into a buffer of exactly len bytes (so an overflow is caught). */
static void format_size_checked(uint64_t n, size_t len)
{
    char *b = malloc(len ? len : 1);
    if (!b)
        abort();
    cli_format_size(n, b, len);
    if (len && !memchr(b, 0, len))
        FAIL("format_size(%llu, len %zu) left no NUL", (unsigned long long)n, len);
    free(b);
}

static void check_size(const char *s)
{
    uint64_t v = 0, ref = 0;
    int rc = cli_parse_size(s, &v);
    int rr = ref_size(s, &ref);
    if (rc != rr || (rc == 0 && v != ref))
        FAIL("parse_size(\"%s\") = %d (%llu), reference %d (%llu)", s, rc,
             (unsigned long long)v, rr, (unsigned long long)ref);
    if (rc != 0)
        return;
    char f[32];
    cli_format_size(v, f, sizeof f);
    uint64_t back;
    if (cli_parse_size(f, &back) == 0) {
        /* The formatter rounds to whole units (10 and up) unless exact. */
        uint64_t diff = back > v ? back - v : v - back;
        if ((unsigned __int128)diff * 19 > v)
            FAIL("parse_size(\"%s\") = %llu formats as \"%s\" = %llu", s,
                 (unsigned long long)v, f, (unsigned long long)back);
        /* the formatter divides by 1024 k times: v >= 1024^k */
        int k = 0;
        while (k < 6 && (v >> (10 * (k + 1))) != 0)
            k++;
        int exact = v < 1024 ||
                    (k <= 4 && v % (1ull << (10 * k)) == 0 &&
                     (v >> (10 * k)) >= 10 && (v >> (10 * k)) < 1024);
        if (exact && back != v)
            FAIL("exact size %llu formats as \"%s\", which parses as %llu",
                 (unsigned long long)v, f, (unsigned long long)back);
        char f2[32];
        cli_format_size(back, f2, sizeof f2);
        if (strcmp(f, f2) != 0)
            FAIL("format is not stable: %s -> %llu -> %s", f,
                 (unsigned long long)back, f2);
    }
    for (size_t len = 0; len < 8; len++)
        format_size_checked(v, len);
}

static void check_mode(const char *s)
{
    uint32_t v = 0xdeadbeef;
    int rc = cli_parse_mode(s, &v);
    if (rc != 0 && rc != -EINVAL && rc != -ERANGE)
        FAIL("parse_mode(\"%s\") = %d", s, rc);
    if (rc != 0)
        return;
    size_t n = strlen(s);
    if (n == 0 || n > 8 || strspn(s, "01234567") != n)
        FAIL("parse_mode accepted \"%s\"", s);
    if (v > 0777 || v != (uint32_t)strtoul(s, NULL, 8))
        FAIL("parse_mode(\"%s\") = %o", s, v);
    char f[8];
    uint32_t back;
    cli_format_mode(v, f, sizeof f);
    if (cli_parse_mode(f, &back) != 0 || back != v)
        FAIL("mode %o formats as \"%s\" which does not parse back", v, f);
    for (size_t len = 0; len < 6; len++) {
        char *b = malloc(len ? len : 1);
        if (!b)
            abort();
        cli_format_mode(v, b, len);
        free(b);
    }
}

static void check_uint(const char *s, uint64_t min, uint64_t max)
{
    uint64_t v = 0;
    int rc = cli_parse_uint(s, min, max, &v);
    size_t n = strlen(s);
    int digits = n > 0 && strspn(s, "0123456789") == n;
    if (!digits) {
        if (rc != -EINVAL)
            FAIL("parse_uint(\"%s\") = %d, want -EINVAL", s, rc);
        return;
    }
    errno = 0;
    unsigned long long ref = strtoull(s, NULL, 10);
    int range = errno == ERANGE || ref < min || ref > max;
    if (range ? rc != -ERANGE : (rc != 0 || v != ref))
        FAIL("parse_uint(\"%s\", %llu, %llu) = %d (%llu)", s,
             (unsigned long long)min, (unsigned long long)max, rc,
             (unsigned long long)v);
}

static void check_seconds(const char *s)
{
    uint64_t ms = 0;
    int rc = cli_parse_seconds(s, &ms);
    if (rc != 0 && rc != -EINVAL && rc != -ERANGE)
        FAIL("parse_seconds(\"%s\") = %d", s, rc);
    if (rc == 0 && ms > (uint64_t)CLI_MAX_SECONDS * 1000u + 999u)
        FAIL("parse_seconds(\"%s\") = %llu ms, above the limit", s,
             (unsigned long long)ms);
    if (rc == 0 && (s[0] == '-' || s[0] == '+' || s[0] == ' '))
        FAIL("parse_seconds accepted a sign or space: \"%s\"", s);
}

static void check_names(const char *s)
{
    shmkit_kind_t k;
    shmkit_wait_t w;
    if (cli_parse_kind(s, &k) == 0 &&
        (k < SHMKIT_KIND_RAW || k > SHMKIT_KIND_LATEST ||
         strcmp(s, shmkit_kind_name(k)) != 0))
        FAIL("parse_kind(\"%s\") = %d", s, (int)k);
    if (cli_parse_wait(s, &w) == 0 && (w < SHMKIT_WAIT_ADAPTIVE || w > SHMKIT_WAIT_BLOCK))
        FAIL("parse_wait(\"%s\") = %d", s, (int)w);
    shmkit_backend_t b = cli_name_backend(s);
    if (b < SHMKIT_BACKEND_POSIX || b > SHMKIT_BACKEND_ANON)
        FAIL("name_backend(\"%s\") = %d", s, (int)b);
}

static uint64_t u64_at(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned sel = data[0];
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    uint64_t min = 0, max = UINT64_MAX;
    if (sel % 8 == 2 && n >= 16) {
        min = u64_at(in) % 1000000u;
        max = u64_at(in + 8);
        if (sel & 8)
            max %= 100000000000ull;
        in += 16;
        n -= 16;
    }
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, in, n);
    s[n] = 0;
    switch (sel % 8) {
    case 0:
        check_size(s);
        break;
    case 1:
        check_mode(s);
        break;
    case 2:
        check_uint(s, min, max);
        break;
    case 3:
        check_seconds(s);
        break;
    case 4:
        check_names(s);
        break;
    case 5: /* formatters on raw 64-bit values */
        if (n >= 8) {
            uint64_t v = u64_at(in);
            for (size_t len = 0; len < 40; len += 1 + len / 4) {
                char *b = malloc(len ? len : 1);
                if (!b)
                    abort();
                cli_format_size(v, b, len);
                cli_format_time_ns(v, b, len);
                cli_format_mode((uint32_t)v, b, len);
                if (len)
                    sink += strlen(b);
                free(b);
            }
            char f[32];
            uint64_t back;
            cli_format_size(v, f, sizeof f);
            if (cli_parse_size(f, &back) == 0 && v >= 10) {
                uint64_t diff = back > v ? back - v : v - back;
                if ((unsigned __int128)diff * 19 > v)
                    FAIL("%llu formats as \"%s\" = %llu", (unsigned long long)v,
                         f, (unsigned long long)back);
            }
        }
        break;
    default: /* every parser on the same string */
        check_size(s);
        check_mode(s);
        check_uint(s, 0, UINT64_MAX);
        check_seconds(s);
        check_names(s);
        break;
    }
    free(s);
    return 0;
}
