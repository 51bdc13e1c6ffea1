/*
 * cli.h - private: what the `shmkit` subcommands share.
 *
 * Adding a command: write `int cli_cmd_NAME(int argc, char **argv)` in a
 * file of its group (cli_segment.c, cli_doctor.c, cli_demo.c, ...), declare
 * it below, and add one line to the table in main.c.  A command gets argv[0]
 * = its own name; it parses its options with getopt_long after
 * cli_getopt_reset(), answers -h/--help on stdout with exit 0, and returns
 * an exit code (CLI_EXIT_*).
 *
 * The parsers in parse.c are pure (no printing, no exit, no global state)
 * so they can be fuzzed and unit-tested on their own.
 */
#ifndef SHMKIT_CLI_H
#define SHMKIT_CLI_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "shmkit.h"

/* Exit codes, the same for every command (DESIGN.md). */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_LOST = 3,       /* messages were lost (takes precedence over 4) */
    CLI_EXIT_PEER_DIED = 4,  /* the writer died without closing              */
    CLI_EXIT_TIMEOUT = 5
};

/* The text printed at the end of every command's --help. */
#define CLI_HELP_EXIT_CODES                                                  \
    "exit status:\n"                                                         \
    "  0 success, 1 error, 2 bad usage, 5 timed out\n"                       \
    "  (3 and 4 are used by channel commands: messages lost, writer died)\n"

/* ---- commands (one file per group) ------------------------------------ */

typedef struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary; /* one line for `shmkit --help`; NULL = hidden */
} cli_command_t;

/* cli_segment.c */
int cli_cmd_ls(int argc, char **argv);
int cli_cmd_info(int argc, char **argv);
int cli_cmd_create(int argc, char **argv);
int cli_cmd_rm(int argc, char **argv);
int cli_cmd_gc(int argc, char **argv);
/* cli_doctor.c */
int cli_cmd_doctor(int argc, char **argv);
/* cli_channel.c */
int cli_cmd_pub(int argc, char **argv);
int cli_cmd_sub(int argc, char **argv);
int cli_cmd_top(int argc, char **argv);
/* cli_bench.c */
int cli_cmd_bench(int argc, char **argv);
/* cli_demo.c */
int cli_cmd_demo(int argc, char **argv);
int cli_cmd_demo_sub(int argc, char **argv);

/* main.c: bit fd set for each of stdin (0), stdout (1) and stderr (2) that
 * was closed when shmkit started (now /dev/null) */
extern unsigned cli_closed_stdio;

/* Prints segments as the `shmkit ls` table (header line included).
 * Used by ls and by the demo. */
void cli_segment_table(FILE *f, const shmkit_segment_info_t *infos, size_t n);

/* Is k one of the channel kinds (queue, bus, latest)? */
int cli_kind_is_channel(shmkit_kind_t k);

/* ---- errors (util.c) --------------------------------------------------- */

/*
 * Reports a library failure: "shmkit: error: <last error message>" and
 * "shmkit: hint: <last error hint>".  When the library's last error is not
 * about rc (or is empty), prints "<what>: <shmkit_strerror(rc)>" and
 * fallback_hint instead (either may be NULL).  Returns cli_exit_code(rc).
 */
int cli_lib_error(int rc, const char *what, const char *fallback_hint);

/* The exit code for a library error: CLI_EXIT_TIMEOUT for -ETIMEDOUT,
 * CLI_EXIT_USAGE for a name that cannot be parsed (SHMKIT_E_BAD_NAME), else
 * CLI_EXIT_ERROR. */
int cli_exit_code(int rc);

/* A CLI-level error: "shmkit: error: ..." then "shmkit: hint: HINT" when
 * hint is not NULL.  Returns CLI_EXIT_ERROR. */
int cli_error(const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "shmkit: hint: ..." (nothing for NULL or ""). */
void cli_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Bad usage: "shmkit: error: CMD: ...", an optional hint, the usage line and
 * "try 'shmkit CMD --help'".  Returns CLI_EXIT_USAGE.
 */
/* Exactly one NAME after the options (optind): 0 and *name, or a usage
 * error's exit code. */
int cli_one_name(const char *cmd, const char *usage, int argc, char **argv,
                 const char **name);
int cli_usage_error(const char *cmd, const char *usage, const char *hint,
                    const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- option parsing ---------------------------------------------------- */

/* Call before a getopt_long loop (resets GNU getopt, silences its messages).
 * Option strings should start with ':' so a missing value returns ':'. */
void cli_getopt_reset(void);

/* Handles getopt_long's '?' or ':' result: prints a usage error and returns
 * CLI_EXIT_USAGE. */
int cli_bad_option(const char *cmd, const char *usage, char **argv, int c);

/* Copies a name for printing: control bytes become '?' so a hostile name
 * in /dev/shm cannot break a table or drive the terminal. */
void cli_safe_copy(char *dst, size_t len, const char *s);

/* ---- lookups (util.c) -------------------------------------------------- */

/* Group name or number -> gid.  Returns 0, or -1 when there is no such
 * group (or the number is out of range). */
int cli_lookup_group(const char *s, int64_t *gid);

/* User name for uid, or the number, in buf.  Returns buf. */
const char *cli_user_name(uid_t uid, char *buf, size_t len);
/* Group name for gid, or the number, in buf.  Returns buf. */
const char *cli_group_name(gid_t gid, char *buf, size_t len);

/* "1 alive", "0 dead", "-1 unknown" -> "alive" / "dead" / "unknown". */
const char *cli_alive_word(int alive);

/* Monotonic clock in nanoseconds. */
uint64_t cli_now_ns(void);
/* Sleeps ms milliseconds (returns early on a signal). */
void cli_sleep_ms(unsigned ms);
void cli_sleep_us(unsigned us);

/* ---- JSON output (util.c) ---------------------------------------------- */

/*
 * A small streaming JSON writer that keeps commas and indentation right.
 * key is NULL inside arrays (and for the top-level value).  Strings are
 * escaped; invalid UTF-8 bytes become U+FFFD so the output always parses.
 */
#define CLI_JSON_MAX_DEPTH 32
typedef struct cli_json {
    FILE *f;
    int depth;
    int count[CLI_JSON_MAX_DEPTH]; /* values written at each level */
    char closer[CLI_JSON_MAX_DEPTH]; /* '}' or ']' for each open level */
} cli_json_t;

void cli_json_init(cli_json_t *j, FILE *f);
void cli_json_begin_object(cli_json_t *j, const char *key);
void cli_json_end_object(cli_json_t *j);
void cli_json_begin_array(cli_json_t *j, const char *key);
void cli_json_end_array(cli_json_t *j);
void cli_json_string(cli_json_t *j, const char *key, const char *val); /* NULL -> null */
void cli_json_int(cli_json_t *j, const char *key, int64_t val);
void cli_json_uint(cli_json_t *j, const char *key, uint64_t val);
void cli_json_bool(cli_json_t *j, const char *key, int val);
void cli_json_null(cli_json_t *j, const char *key);
/* A finite number with up to 3 decimals (NaN/inf -> null). */
void cli_json_double(cli_json_t *j, const char *key, double val);
/* An alive word (1 / 0 / -1) as true / false / null. */
void cli_json_alive(cli_json_t *j, const char *key, int alive);
/* Ends the document with a newline. */
void cli_json_finish(cli_json_t *j);

/* Writes s as a JSON string literal (with quotes). */
void cli_json_write_string(FILE *f, const char *s);

/* A channel's counters and readers, as `shmkit info` prints them: text
 * lines, or a JSON object under key (cli_channel.c). */
void cli_channel_stat_text(FILE *f, const shmkit_channel_stat_t *st);
void cli_channel_stat_json(cli_json_t *j, const char *key,
                           const shmkit_channel_stat_t *st);

/* ---- pure parsers and formatters (parse.c) ----------------------------- */

/*
 * Size: decimal digits with an optional suffix, powers of 1024:
 * K k KB KiB, M m MB MiB, G g GB GiB, T t TB TiB (any case), or B.
 * Returns 0, -EINVAL (empty, sign, junk, bad suffix) or -ERANGE (0 or it
 * does not fit in 64 bits).
 */
int cli_parse_size(const char *s, uint64_t *out);

/* Permission bits in octal ("600", "0660"): 0 to 0777.  Returns 0, -EINVAL
 * (empty, not octal, junk) or -ERANGE (above 0777). */
int cli_parse_mode(const char *s, uint32_t *out);

/* Decimal unsigned integer in [min, max].  Returns 0, -EINVAL or -ERANGE. */
int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Human size as `ls -h` prints it: "512", "4.0K", "12M", "1.5G". */
char *cli_format_size(uint64_t n, char *buf, size_t len);

/* Permission bits as four octal digits, "0600". */
char *cli_format_mode(uint32_t mode, char *buf, size_t len);

/* ISO-8601 UTC with milliseconds, "2024-05-01T12:34:56.789Z"; "-" for 0. */
char *cli_format_time_ns(uint64_t unix_ns, char *buf, size_t len);

/* Longest duration cli_parse_seconds accepts (about 11.5 days). */
#define CLI_MAX_SECONDS 1000000u

/*
 * Duration in seconds, "2", "0.5", ".25", "1.5s", or milliseconds "250ms",
 * into milliseconds (digits past the millisecond are dropped).  Returns 0,
 * -EINVAL (empty, sign, junk) or -ERANGE (above CLI_MAX_SECONDS).
 */
int cli_parse_seconds(const char *s, uint64_t *ms_out);

/* "raw", "queue", "bus", "latest".  Returns 0 or -EINVAL. */
int cli_parse_kind(const char *s, shmkit_kind_t *out);

/* "adaptive", "spin", "yield", "block".  Returns 0 or -EINVAL. */
int cli_parse_wait(const char *s, shmkit_wait_t *out);

/* The backend a NAME selects, by its prefix (no syscalls). */
shmkit_backend_t cli_name_backend(const char *name);

#endif /* SHMKIT_CLI_H */
