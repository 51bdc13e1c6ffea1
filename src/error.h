/* error.h - private: recording errors with hints. */
#ifndef SK_ERROR_H
#define SK_ERROR_H

#if defined(__GNUC__)
#define SK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SK_PRINTF(a, b)
#endif

/* Records code (negative), what was attempted, on which object (may be NULL)
 * and a printf-style hint (may be NULL).  Returns code.  Keeps errno. */
int sk_err(int code, const char *what, const char *object, const char *hint,
           ...) SK_PRINTF(4, 5);
/* Appends ": detail" to the message of the last error. */
void sk_err_detail(const char *fmt, ...) SK_PRINTF(1, 2);
/* Prefixes "context: " to the message of the last error. */
void sk_err_context(const char *fmt, ...) SK_PRINTF(1, 2);
/* "ENOENT", "SHMKIT_E_BUSY", ... */
const char *sk_errname(int code);

#endif
