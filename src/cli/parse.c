/*
 * parse.c - pure parsers and formatters for the CLI.
 *
 * Nothing here prints, exits, allocates or touches global state, so each
 * function can be fed arbitrary bytes by a fuzzer or a unit test.  Parsers
 * return 0 or a negative errno: -EINVAL for text that is not of the form
 * asked for, -ERANGE for a well-formed value out of range.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"

/* Leading decimal digits of s into *v; *end is the first other byte.
 * -EINVAL when there is no digit, -ERANGE on 64-bit overflow. */
static int parse_digits(const char *s, uint64_t *v, const char **end)
{
    uint64_t acc = 0;
    const char *p = s;
    int overflow = 0;
    while (*p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (acc > (UINT64_MAX - d) / 10)
            overflow = 1;
        else
            acc = acc * 10 + d;
        p++;
    }
    *end = p;
    if (p == s)
        return -EINVAL;
    if (overflow)
        return -ERANGE;
    *v = acc;
    return 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
    /* suffix -> power of 1024; every accepted spelling is listed */
    static const struct { const char *sfx; unsigned shift; } units[] = {
        {"", 0},     {"b", 0},
        {"k", 10},   {"kb", 10},  {"kib", 10},
        {"m", 20},   {"mb", 20},  {"mib", 20},
        {"g", 30},   {"gb", 30},  {"gib", 30},
        {"t", 40},   {"tb", 40},  {"tib", 40},
    };
    uint64_t v = 0;
    const char *end;
    int rc;

    if (s == NULL || out == NULL)
        return -EINVAL;
    rc = parse_digits(s, &v, &end);
    if (rc == -EINVAL)
        return -EINVAL;
    /* The suffix must be valid even when the number overflowed, so that
     * "99999999999999999999x" is reported as junk, not as too large. */
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(end, units[i].sfx) != 0)
            continue;
        if (rc < 0)
            return rc;
        if (v == 0)
            return -ERANGE;
        if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
            return -ERANGE;
        *out = v << units[i].shift;
        return 0;
    }
    return -EINVAL;
}

int cli_parse_mode(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    size_t n = 0;

    if (s == NULL || out == NULL || *s == '\0')
        return -EINVAL;
    for (const char *p = s; *p; p++, n++) {
        if (*p < '0' || *p > '7')
            return -EINVAL;
        if (n >= 8) /* leading zeros are fine, eight digits is plenty */
            return -ERANGE;
        v = v * 8 + (uint32_t)(*p - '0');
    }
    if (v > 0777)
        return -ERANGE;
    *out = v;
    return 0;
}

int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    const char *end;
    int rc;

    if (s == NULL || out == NULL)
        return -EINVAL;
    rc = parse_digits(s, &v, &end);
    if (rc == -EINVAL || *end != '\0')
        return -EINVAL;
    if (rc < 0 || v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

char *cli_format_size(uint64_t n, char *buf, size_t len)
{
    static const char units[] = "KMGTPE";
    double v = (double)n;
    int u = -1;

    if (len == 0)
        return buf;
    if (n < 1024) {
        snprintf(buf, len, "%llu", (unsigned long long)n);
        return buf;
    }
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        u++;
    }
    if (v < 9.95)
        snprintf(buf, len, "%.1f%c", v, units[u]);
    else if (v < 1023.5 || u == 5)
        snprintf(buf, len, "%.0f%c", v, units[u]);
    else /* 1023.5 and up rounds to 1024: show it in the next unit */
        snprintf(buf, len, "1.0%c", units[u + 1]);
    return buf;
}

char *cli_format_mode(uint32_t mode, char *buf, size_t len)
{
    if (len)
        snprintf(buf, len, "%04o", (unsigned)(mode & 07777));
    return buf;
}

char *cli_format_time_ns(uint64_t unix_ns, char *buf, size_t len)
{
    struct tm tm;
    time_t secs = (time_t)(unix_ns / 1000000000u);
    unsigned ms = (unsigned)((unix_ns % 1000000000u) / 1000000u);
    char tmp[64];

    if (len == 0)
        return buf;
    if (unix_ns == 0 || gmtime_r(&secs, &tm) == NULL ||
        strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    snprintf(buf, len, "%s.%03uZ", tmp, ms);
    return buf;
}

shmkit_backend_t cli_name_backend(const char *name)
{
    if (strncmp(name, "sysv:", 5) == 0)
        return SHMKIT_BACKEND_SYSV;
    if (strncmp(name, "file:", 5) == 0)
        return SHMKIT_BACKEND_FILE;
    if (strncmp(name, "memfd:", 6) == 0)
        return SHMKIT_BACKEND_MEMFD;
    if (strncmp(name, "anon:", 5) == 0)
        return SHMKIT_BACKEND_ANON;
    return SHMKIT_BACKEND_POSIX;
}

int cli_parse_seconds(const char *s, uint64_t *ms_out)
{
    uint64_t whole = 0, frac_ms = 0, scale = 100;
    const char *p, *end;
    int rc, ms_unit = 0;

    if (s == NULL || ms_out == NULL)
        return -EINVAL;
    rc = parse_digits(s, &whole, &end);
    if (rc == -EINVAL && *s != '.')
        return -EINVAL;
    if (rc == -EINVAL)
        whole = 0; /* ".5" */
    p = end;
    if (*p == '.') {
        const char *q = ++p;
        while (*p >= '0' && *p <= '9') {
            frac_ms += (uint64_t)(*p - '0') * scale; /* digits past ms drop */
            scale /= 10;
            p++;
        }
        if (p == q && end == s) /* "." alone */
            return -EINVAL;
    }
    if (strcmp(p, "ms") == 0)
        ms_unit = 1;
    else if (*p != '\0' && strcmp(p, "s") != 0)
        return -EINVAL;
    if (rc == -ERANGE)
        return -ERANGE;
    if (ms_unit) {
        if (frac_ms) /* "1.5ms": no sub-millisecond precision */
            return -EINVAL;
        if (whole > CLI_MAX_SECONDS * 1000u)
            return -ERANGE;
        *ms_out = whole;
        return 0;
    }
    if (whole > CLI_MAX_SECONDS)
        return -ERANGE;
    *ms_out = whole * 1000u + frac_ms;
    return 0;
}

int cli_parse_kind(const char *s, shmkit_kind_t *out)
{
    static const struct { const char *name; shmkit_kind_t kind; } kinds[] = {
        {"raw", SHMKIT_KIND_RAW},
        {"queue", SHMKIT_KIND_QUEUE},
        {"bus", SHMKIT_KIND_BUS},
        {"latest", SHMKIT_KIND_LATEST},
    };
    if (s == NULL || out == NULL)
        return -EINVAL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(s, kinds[i].name) == 0) {
            *out = kinds[i].kind;
            return 0;
        }
    return -EINVAL;
}

int cli_parse_wait(const char *s, shmkit_wait_t *out)
{
    static const struct { const char *name; shmkit_wait_t wait; } modes[] = {
        {"adaptive", SHMKIT_WAIT_ADAPTIVE},
        {"spin", SHMKIT_WAIT_SPIN},
        {"yield", SHMKIT_WAIT_YIELD},
        {"block", SHMKIT_WAIT_BLOCK},
    };
    if (s == NULL || out == NULL)
        return -EINVAL;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (strcmp(s, modes[i].name) == 0) {
            *out = modes[i].wait;
            return 0;
        }
    return -EINVAL;
}
