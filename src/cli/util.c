/*
 * util.c - what the CLI commands share: error and usage messages, getopt
 * glue, user/group lookups, clocks, and a small JSON writer.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* ---- errors ------------------------------------------------------------ */

int cli_lib_error(int rc, const char *what, const char *fallback_hint)
{
    const char *msg = shmkit_last_error_message();
    const char *hint = shmkit_last_error_hint();

    /* The thread's last error may be left over from an earlier call that
     * failed; trust it only when it is about this code. */
    if (shmkit_last_error_code() != rc || msg[0] == '\0') {
        if (what && what[0])
            fprintf(stderr, "shmkit: error: %s: %s\n", what,
                    shmkit_strerror(rc));
        else
            fprintf(stderr, "shmkit: error: %s\n", shmkit_strerror(rc));
        hint = fallback_hint;
    } else {
        fprintf(stderr, "shmkit: error: %s\n", msg);
        if (hint[0] == '\0')
            hint = fallback_hint;
    }
    if (hint && hint[0])
        fprintf(stderr, "shmkit: hint: %s\n", hint);
    return cli_exit_code(rc);
}

int cli_exit_code(int rc)
{
    if (rc == SHMKIT_E_BAD_NAME)
        return CLI_EXIT_USAGE; /* a name we cannot parse is bad usage */
    return rc == -ETIMEDOUT ? CLI_EXIT_TIMEOUT : CLI_EXIT_ERROR;
}

int cli_error(const char *hint, const char *fmt, ...)
{
    va_list ap;
    fputs("shmkit: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (hint && hint[0])
        fprintf(stderr, "shmkit: hint: %s\n", hint);
    return CLI_EXIT_ERROR;
}

void cli_hint(const char *fmt, ...)
{
    va_list ap;
    if (fmt == NULL || fmt[0] == '\0')
        return;
    fputs("shmkit: hint: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *usage, const char *hint,
                    const char *fmt, ...)
{
    va_list ap;
    fputs("shmkit: error: ", stderr);
    if (cmd)
        fprintf(stderr, "%s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (hint && hint[0])
        fprintf(stderr, "shmkit: hint: %s\n", hint);
    if (usage)
        fprintf(stderr, "usage: %s\n", usage);
    if (cmd)
        fprintf(stderr, "try 'shmkit %s --help'\n", cmd);
    else
        fputs("try 'shmkit --help'\n", stderr);
    return CLI_EXIT_USAGE;
}

/* ---- getopt glue ------------------------------------------------------- */

void cli_getopt_reset(void)
{
    optind = 0; /* 0, not 1: makes GNU getopt re-initialise completely */
    opterr = 0; /* we print our own messages */
}

int cli_bad_option(const char *cmd, const char *usage, char **argv, int c)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";

    if (arg == NULL)
        arg = "";
    if (c == ':')
        return cli_usage_error(cmd, usage, NULL, "option '%s' needs a value",
                               arg);
    /* Inside a group of short options ("-xl"), getopt has not moved on to
     * the next argument yet: argv[optind - 1] is the one before, which may
     * be a long option that was fine; the culprit is in argv[optind]. */
    const char *here = optind > 0 ? argv[optind] : NULL;
    int in_group = optopt && here && here[0] == '-' && here[1] != '-' &&
                   strchr(here + 1, optopt) != NULL;
    if (strncmp(arg, "--", 2) == 0 && !in_group)
        return cli_usage_error(cmd, usage, NULL,
                               "unknown option '%s' (or an ambiguous abbreviation, "
                               "or it takes no value)",
                               arg);
    return cli_usage_error(cmd, usage, NULL, "unknown option '-%c'",
                           optopt ? optopt : '?');
}

/* ---- names ------------------------------------------------------------ */

void cli_safe_copy(char *dst, size_t len, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (len)
        dst[i] = '\0';
}

/* ---- lookups ----------------------------------------------------------- */

int cli_lookup_group(const char *s, int64_t *gid)
{
    struct group gr, *res = NULL;
    char buf[16384];
    uint64_t v;

    if (s == NULL || s[0] == '\0')
        return -1;
    if (getgrnam_r(s, &gr, buf, sizeof buf, &res) == 0 && res != NULL) {
        *gid = (int64_t)res->gr_gid;
        return 0;
    }
    /* (gid_t)-1 means "no change" to chown(), so it is not a group */
    if (cli_parse_uint(s, 0, (uint64_t)(gid_t)-1 - 1, &v) == 0) {
        *gid = (int64_t)v;
        return 0;
    }
    return -1;
}

const char *cli_user_name(uid_t uid, char *buf, size_t len)
{
    struct passwd pw, *res = NULL;
    char tmp[16384];

    if (getpwuid_r(uid, &pw, tmp, sizeof tmp, &res) == 0 && res != NULL)
        snprintf(buf, len, "%s", res->pw_name);
    else
        snprintf(buf, len, "%lu", (unsigned long)uid);
    return buf;
}

const char *cli_group_name(gid_t gid, char *buf, size_t len)
{
    struct group gr, *res = NULL;
    char tmp[16384];

    if (getgrgid_r(gid, &gr, tmp, sizeof tmp, &res) == 0 && res != NULL)
        snprintf(buf, len, "%s", res->gr_name);
    else
        snprintf(buf, len, "%lu", (unsigned long)gid);
    return buf;
}

const char *cli_alive_word(int alive)
{
    return alive > 0 ? "alive" : alive == 0 ? "dead" : "unknown";
}

uint64_t cli_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cli_sleep_us(unsigned us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
}

void cli_sleep_ms(unsigned ms)
{
    cli_sleep_us(ms * 1000u);
}

/* ---- JSON -------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (2-4), or 0 if it is not one. */
static int utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    int n;
    unsigned lo = 0x80, hi = 0xbf; /* range of the second byte */

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (int i = 2; i < n; i++) /* a NUL stops this too */
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

void cli_json_write_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    fputc('"', f);
    while (*p) {
        unsigned c = *p;
        int n;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc((int)c, f);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            switch (c) {
            case '\n': fputs("\\n", f); break;
            case '\r': fputs("\\r", f); break;
            case '\t': fputs("\\t", f); break;
            case '\b': fputs("\\b", f); break;
            case '\f': fputs("\\f", f); break;
            default: fprintf(f, "\\u%04x", c); break;
            }
            p++;
        } else if (c < 0x80) {
            fputc((int)c, f);
            p++;
        } else if ((n = utf8_len(p)) > 0) {
            fwrite(p, 1, (size_t)n, f);
            p += n;
        } else {
            fputs("\\ufffd", f); /* keep the document valid UTF-8 */
            p++;
        }
    }
    fputc('"', f);
}

void cli_json_init(cli_json_t *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
}

static void json_newline(cli_json_t *j, int depth)
{
    fputc('\n', j->f);
    for (int i = 0; i < depth; i++)
        fputs("  ", j->f);
}

/* Comma, newline and indent before a value, then its key. */
static void json_pre(cli_json_t *j, const char *key)
{
    if (j->depth > 0) {
        int lvl = j->depth <= CLI_JSON_MAX_DEPTH ? j->depth - 1
                                                  : CLI_JSON_MAX_DEPTH - 1;
        if (j->count[lvl]++ > 0)
            fputc(',', j->f);
        json_newline(j, j->depth);
    }
    if (key) {
        cli_json_write_string(j->f, key);
        fputs(": ", j->f);
    }
}

static void json_open(cli_json_t *j, const char *key, char c)
{
    json_pre(j, key);
    fputc(c, j->f);
    if (j->depth < CLI_JSON_MAX_DEPTH) {
        j->count[j->depth] = 0;
        j->closer[j->depth] = c == '{' ? '}' : ']';
    }
    j->depth++;
}

static void json_close(cli_json_t *j, char c)
{
    if (j->depth == 0)
        return;
    j->depth--;
    if (j->depth < CLI_JSON_MAX_DEPTH && j->count[j->depth] > 0)
        json_newline(j, j->depth);
    fputc(c, j->f);
}

void cli_json_begin_object(cli_json_t *j, const char *key) { json_open(j, key, '{'); }
void cli_json_end_object(cli_json_t *j) { json_close(j, '}'); }
void cli_json_begin_array(cli_json_t *j, const char *key) { json_open(j, key, '['); }
void cli_json_end_array(cli_json_t *j) { json_close(j, ']'); }

void cli_json_string(cli_json_t *j, const char *key, const char *val)
{
    json_pre(j, key);
    if (val)
        cli_json_write_string(j->f, val);
    else
        fputs("null", j->f);
}

void cli_json_int(cli_json_t *j, const char *key, int64_t val)
{
    json_pre(j, key);
    fprintf(j->f, "%lld", (long long)val);
}

void cli_json_uint(cli_json_t *j, const char *key, uint64_t val)
{
    json_pre(j, key);
    fprintf(j->f, "%llu", (unsigned long long)val);
}

void cli_json_bool(cli_json_t *j, const char *key, int val)
{
    json_pre(j, key);
    fputs(val ? "true" : "false", j->f);
}

void cli_json_null(cli_json_t *j, const char *key)
{
    json_pre(j, key);
    fputs("null", j->f);
}

void cli_json_finish(cli_json_t *j)
{
    while (j->depth > 0) /* close what a caller left open */
        json_close(j, j->depth <= CLI_JSON_MAX_DEPTH
                          ? j->closer[j->depth - 1] : '}');
    fputc('\n', j->f);
}

void cli_json_double(cli_json_t *j, const char *key, double val)
{
    char buf[64];
    size_t n;

    json_pre(j, key);
    if (val != val || val > 1e300 || val < -1e300) {
        fputs("null", j->f);
        return;
    }
    if (val >= 1e15 || val <= -1e15) { /* exponent form: still JSON */
        fprintf(j->f, "%.6e", val);
        return;
    }
    snprintf(buf, sizeof buf, "%.3f", val);
    /* "12.500" -> "12.5", "3.000" -> "3": shorter, still a JSON number */
    n = strlen(buf);
    while (n > 0 && buf[n - 1] == '0')
        buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '.')
        buf[--n] = '\0';
    if (strcmp(buf, "-0") == 0)
        strcpy(buf, "0");
    fputs(buf, j->f);
}

void cli_json_alive(cli_json_t *j, const char *key, int alive)
{
    if (alive < 0)
        cli_json_null(j, key);
    else
        cli_json_bool(j, key, alive);
}

int cli_one_name(const char *cmd, const char *usage, int argc, char **argv,
                 const char **name)
{
    if (optind >= argc)
        return cli_usage_error(cmd, usage, NULL, "missing NAME");
    if (argc - optind > 1)
        return cli_usage_error(cmd, usage, NULL, "unexpected argument '%s'",
                               argv[optind + 1]);
    *name = argv[optind];
    return 0;
}
