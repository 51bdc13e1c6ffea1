/*
 * error.c - error codes and the thread-local last-error record.
 *
 * The record is a fixed buffer per thread: formatting never allocates, and
 * the getters never return NULL.  A failure records what was attempted, on
 * which object, the system's words and a hint; callers up the stack may add
 * context with sk_err_context().
 */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "shmkit.h"

static _Thread_local struct {
    int code;
    char msg[768];
    char hint[512];
    char full[1300];
} tl_err;

const char *shmkit_version(void)
{
    return SHMKIT_VERSION_STRING;
}

static const char *const own_names[] = {
    /* indexed by code - SHMKIT_E_FIRST */
    "not a shmkit segment (no shmkit magic)",
    "shmkit format version mismatch",
    "shmkit ABI mismatch (built for another architecture or layout)",
    "segment truncated (smaller than its header says)",
    "segment not ready in time (its creator did not finish)",
    "segment header or control block corrupt",
    "peer process is gone",
    "previous owner died holding the lock (repair, then mark consistent)",
    "busy: a live process already holds this role (writer or consumer)",
    "messages were lost",
    "message was overwritten while it was being read",
    "channel closed by its writer",
    "segment is of another kind",
    "table full (too many attached processes or readers)",
    "huge pages requested but none are available",
    "option not supported by this backend",
    "received memfd is not sealed against shrinking",
    "peer credentials not in the allow-list",
    "bad segment name",
};
_Static_assert(sizeof own_names / sizeof own_names[0] ==
                   SHMKIT_E_LAST - SHMKIT_E_FIRST + 1,
               "one name per shmkit error code");

const char *shmkit_strerror(int code)
{
    static _Thread_local char buf[64];
    if (code >= 0)
        return "success";
    if (code >= SHMKIT_E_FIRST && code <= SHMKIT_E_LAST)
        return own_names[code - SHMKIT_E_FIRST];
    if (code > -4096) {
        const char *d = strerrordesc_np(-code);
        if (d)
            return d;
    }
    snprintf(buf, sizeof buf, "unknown error %d", code);
    return buf;
}

const char *sk_errname(int code)
{
    if (code >= SHMKIT_E_FIRST && code <= SHMKIT_E_LAST) {
        static const char *const n[] = {
            "SHMKIT_E_NOT_SHMKIT", "SHMKIT_E_VERSION",    "SHMKIT_E_ABI",
            "SHMKIT_E_TRUNCATED",  "SHMKIT_E_NOT_READY",  "SHMKIT_E_CORRUPT",
            "SHMKIT_E_PEER_GONE",  "SHMKIT_E_OWNER_DEAD", "SHMKIT_E_BUSY",
            "SHMKIT_E_LOST",       "SHMKIT_E_OVERRUN",    "SHMKIT_E_CLOSED",
            "SHMKIT_E_KIND",       "SHMKIT_E_TABLE_FULL", "SHMKIT_E_NO_HUGEPAGES",
            "SHMKIT_E_UNSUPPORTED", "SHMKIT_E_UNSEALED",  "SHMKIT_E_PEER_DENIED",
            "SHMKIT_E_BAD_NAME"};
        _Static_assert(sizeof n / sizeof n[0] == SHMKIT_E_LAST - SHMKIT_E_FIRST + 1,
                       "one symbol per code");
        return n[code - SHMKIT_E_FIRST];
    }
    if (code < 0 && code > -4096) {
        const char *n = strerrorname_np(-code);
        if (n)
            return n;
    }
    return "?";
}

static void rebuild_full(void)
{
    if (tl_err.hint[0])
        snprintf(tl_err.full, sizeof tl_err.full, "%s; hint: %s", tl_err.msg,
                 tl_err.hint);
    else
        snprintf(tl_err.full, sizeof tl_err.full, "%s", tl_err.msg);
}

int sk_err(int code, const char *what, const char *object, const char *hint,
           ...)
{
    int saved = errno;
    tl_err.code = code;
    if (object)
        snprintf(tl_err.msg, sizeof tl_err.msg, "%s(\"%s\"): %s (%s)", what,
                 object, shmkit_strerror(code), sk_errname(code));
    else
        snprintf(tl_err.msg, sizeof tl_err.msg, "%s: %s (%s)", what,
                 shmkit_strerror(code), sk_errname(code));
    tl_err.hint[0] = 0;
    if (hint) {
        va_list ap;
        va_start(ap, hint);
        vsnprintf(tl_err.hint, sizeof tl_err.hint, hint, ap);
        va_end(ap);
    }
    rebuild_full();
    errno = saved;
    return code;
}

void sk_err_detail(const char *fmt, ...)
{
    size_t n = strlen(tl_err.msg);
    if (n + 3 >= sizeof tl_err.msg)
        return;
    tl_err.msg[n++] = ':';
    tl_err.msg[n++] = ' ';
    tl_err.msg[n] = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tl_err.msg + n, sizeof tl_err.msg - n, fmt, ap);
    va_end(ap);
    rebuild_full();
}

void sk_err_context(const char *fmt, ...)
{
    char pre[256];
    char tmp[sizeof tl_err.msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    snprintf(tmp, sizeof tmp, "%s: %s", pre, tl_err.msg);
    memcpy(tl_err.msg, tmp, sizeof tmp);
    rebuild_full();
}

const char *shmkit_last_error(void)
{
    return tl_err.full;
}

const char *shmkit_last_error_message(void)
{
    return tl_err.msg;
}

const char *shmkit_last_error_hint(void)
{
    return tl_err.hint;
}

int shmkit_last_error_code(void)
{
    return tl_err.code;
}

void shmkit_clear_error(void)
{
    tl_err.code = 0;
    tl_err.msg[0] = 0;
    tl_err.hint[0] = 0;
    tl_err.full[0] = 0;
}
