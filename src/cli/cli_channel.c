/*
 * cli_channel.c - channel commands: pub, sub, top, and the channel part of
 * `shmkit info`.
 *
 * pub and sub carry a byte stream through a channel, so that
 * `shmkit pub C < FILE` and `shmkit sub C > COPY` give COPY == FILE.
 *
 *   pub  Raw mode sends whatever one read() returns, without waiting to fill
 *        a chunk, so a trickling source (`tail -f log | shmkit pub C`) is
 *        live.  A regular file is read straight into the reserved message
 *        (reserve, read, commit): the only copy is the kernel's, from the
 *        page cache into the ring.  --lines sends one message per line.
 *        At EOF, or on SIGINT/SIGTERM, it closes the channel, which tells
 *        the subscribers that the stream ended.
 *
 *   sub  A queue or a reliable bus holds a message still while we look at
 *        it, so large messages are written to stdout straight from the ring
 *        (peek, write, release) and small ones are gathered in a large
 *        buffer.  The reader acknowledges (manual_ack) only what stdout
 *        took: a queue keeps the rest for its next reader when the write
 *        fails or sub is killed.  A lossy bus may overwrite a message while it is read: it
 *        is copied out first (recv) and only a copy that the release
 *        declared intact is written.  The buffer is flushed whenever the
 *        channel runs dry, so output is as live as the input.
 *
 * Every wait is sliced (100 ms) so that a signal, whose handler only sets a
 * flag, is noticed promptly even in the blocking wait mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define SLICE_NS 100000000ll       /* longest single wait                  */
/* 256K: the kernel copies a file from the page cache faster in 256K reads
 * than in 64K ones (1 GiB: ~80 ms against ~140 ms here); a pipe returns
 * what it holds anyway.  But at most an eighth of the ring (PUB_CHUNK_RING,
 * less a record header): with 256K messages a 1M ring holds three, and
 * pub | sub moved a file half as fast (December 2026, a Zen 4 guest: 1 GiB
 * in 260-320 ms, 3.6-4.0x cat | cat; pub slept for room 200 times a GiB).
 * In 128K messages (131080-byte records, just over the eighth that the
 * writer's fast path takes) 145-215 ms, 5.8-7.4x; in 131048-byte ones
 * 106-130 ms, 8-12x. */
#define PUB_CHUNK_DEFAULT (256u << 10)
#define PUB_CHUNK_RING 8u
/* 1M: a ring that stays in the CPU's caches moves a stream fastest (a file
 * through pub | sub: ~85 ms per GiB on the first guest, against ~110 ms
 * with 4M, whose pages are written back to memory and prefaulted at open;
 * on the Zen 4 guest 4M was as fast or faster, 145-155 ms against 145-215:
 * its host varies more than that); a queue or a reliable bus holds pub
 * back instead of losing what does not fit. */
#define PUB_CAPACITY_DEFAULT (1u << 20)
#define PUB_LATEST_DEFAULT (64u << 10)
#define SUB_BUF_MIN (1u << 20)     /* stdout buffer                         */
#define SUB_DIRECT_MIN (16u << 10) /* messages this large bypass the buffer */

/* ------------------------------------------------------------------------ */
/* shared bits                                                              */
/* ------------------------------------------------------------------------ */

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* SIGINT, SIGTERM and SIGHUP set g_stop.  No SA_RESTART: a blocked read()
 * or write() returns EINTR so the loop can see the flag.  A closed stdout
 * is an EPIPE, not a silent death: the reader must still be closed. */
static void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int cli_kind_is_channel(shmkit_kind_t k)
{
    return k == SHMKIT_KIND_QUEUE || k == SHMKIT_KIND_BUS ||
           k == SHMKIT_KIND_LATEST;
}

static const char *seconds_problem(int rc)
{
    return rc == -ERANGE ? "is too long"
                         : "is not a duration in seconds (e.g. 2, 0.5, 250ms)";
}

/* Reports a failed shmkit_writer_open / shmkit_reader_open.  ENOENT after
 * waiting is a timeout (exit 5); a raw segment gets its own words. */
static int open_failed(int rc, const char *cmd, const char *name,
                       uint64_t waited_ms, int creating)
{
    char safe[300], msg[512], hint[512];
    shmkit_segment_info_t *in;

    cli_safe_copy(safe, sizeof safe, name);
    if (rc == -ENOENT && !creating) {
        fprintf(stderr, "shmkit: error: %s: channel %s does not exist "
                        "(waited %.1f s for it)\n",
                cmd, safe, (double)waited_ms / 1000.0);
        if (strcmp(cmd, "sub") == 0)
            cli_hint("start 'shmkit pub %s --create ...' first, or wait "
                     "longer with --wait SECONDS; 'shmkit ls' lists the "
                     "channels", safe);
        else
            cli_hint("create it with 'shmkit create %s --kind queue "
                     "--capacity 4M', or pass --create", safe);
        return CLI_EXIT_TIMEOUT;
    }
    /* The library's words, kept before inspect() can replace them. */
    snprintf(msg, sizeof msg, "%s",
             shmkit_last_error_code() == rc ? shmkit_last_error_message() : "");
    snprintf(hint, sizeof hint, "%s",
             shmkit_last_error_code() == rc ? shmkit_last_error_hint() : "");
    if (rc == SHMKIT_E_CORRUPT || rc == SHMKIT_E_KIND) {
        in = calloc(1, sizeof *in);
        if (in && shmkit_segment_inspect(name, in) == 0 && in->is_shmkit &&
            in->check == 0 && !cli_kind_is_channel(in->kind)) {
            free(in);
            return cli_error("a channel is made with 'shmkit create NAME "
                             "--kind queue|bus|latest --capacity SIZE' (or "
                             "'shmkit pub NAME --create')",
                             "%s: %s is a raw segment (made with --size), not "
                             "a channel", cmd, safe);
        }
        free(in);
    }
    if (msg[0]) {
        fprintf(stderr, "shmkit: error: %s\n", msg);
        if (hint[0])
            fprintf(stderr, "shmkit: hint: %s\n", hint);
        else if (rc == SHMKIT_E_BUSY)
            cli_hint("'shmkit info %s' shows who holds it", safe);
        return cli_exit_code(rc);
    }
    return cli_lib_error(rc, name, NULL);
}

/* Writes all of buf to fd.  Returns 0, or -errno (-EINTR when a stop
 * signal came while stdout was blocked). */
static int write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                if (g_stop)
                    return -EINTR;
                continue;
            }
            return -errno;
        }
        p += n;
        len -= (size_t)n;
        if (len > 0 && g_stop)
            return -EINTR;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* info: a channel's counters                                               */
/* ------------------------------------------------------------------------ */

static const char *kind_word(const shmkit_channel_stat_t *st)
{
    if (st->kind == SHMKIT_KIND_BUS)
        return st->reliable ? "bus (reliable: the writer waits for the "
                              "slowest reader)"
                            : "bus (lossy: the writer never waits)";
    if (st->kind == SHMKIT_KIND_QUEUE)
        return st->multi_producer ? "queue (many producers)"
                                  : "queue (one producer)";
    return shmkit_kind_name(st->kind);
}

void cli_channel_stat_text(FILE *f, const shmkit_channel_stat_t *st)
{
    char sz[16], sz2[16];
    int n = st->nreaders, live = 0;

    if (n > SHMKIT_MAX_READERS)
        n = SHMKIT_MAX_READERS;
    for (int i = 0; i < n; i++)
        live += st->readers[i].alive != 0;
    fprintf(f, "channel:         %s\n", kind_word(st));
    fprintf(f, "capacity:        %s (%llu bytes)%s\n",
            cli_format_size(st->capacity, sz, sizeof sz),
            (unsigned long long)st->capacity,
            st->kind == SHMKIT_KIND_LATEST ? " per value" : "");
    fprintf(f, "max_msg:         %s (%lu bytes)\n",
            cli_format_size(st->max_msg, sz, sizeof sz),
            (unsigned long)st->max_msg);
    if (st->kind == SHMKIT_KIND_BUS)
        fprintf(f, "max_readers:     %lu\n", (unsigned long)st->max_readers);
    fprintf(f, "messages:        %llu\n", (unsigned long long)st->messages);
    fprintf(f, "bytes:           %llu (%s)\n", (unsigned long long)st->bytes,
            cli_format_size(st->bytes, sz2, sizeof sz2));
    fprintf(f, "position:        %llu\n", (unsigned long long)st->position);
    if (st->writer_pid)
        fprintf(f, "writer:          pid %lld (%s)\n",
                (long long)st->writer_pid, cli_alive_word(st->writer_alive));
    else
        fprintf(f, "writer:          none attached\n");
    fprintf(f, "closed:          %s\n",
            st->closed ? "yes (the writer ended the stream)" : "no");
    if (st->kind == SHMKIT_KIND_BUS)
        fprintf(f, "evictions:       %llu (dead readers dropped)\n",
                (unsigned long long)st->evictions);
    if (st->kind == SHMKIT_KIND_QUEUE)
        fprintf(f, "producer_deaths: %llu (dead producers' claims skipped)\n",
                (unsigned long long)st->producer_deaths);
    fprintf(f, "readers:         %d (%d alive)\n", n, live);
    for (int i = 0; i < n; i++) {
        const shmkit_reader_stat_t *r = &st->readers[i];
        fprintf(f, "  pid %-10lld %-7s position %llu  lag %llu (%s)  "
                   "messages %llu  lost %llu\n",
                (long long)r->pid, cli_alive_word(r->alive),
                (unsigned long long)r->position, (unsigned long long)r->lag,
                cli_format_size(r->lag, sz, sizeof sz),
                (unsigned long long)r->messages, (unsigned long long)r->lost);
    }
}

void cli_channel_stat_json(cli_json_t *j, const char *key,
                           const shmkit_channel_stat_t *st)
{
    int n = st->nreaders;

    if (n > SHMKIT_MAX_READERS)
        n = SHMKIT_MAX_READERS;
    cli_json_begin_object(j, key);
    cli_json_string(j, "kind", shmkit_kind_name(st->kind));
    cli_json_bool(j, "reliable", st->reliable);
    cli_json_bool(j, "multi_producer", st->multi_producer);
    cli_json_uint(j, "capacity", st->capacity);
    cli_json_uint(j, "max_msg", st->max_msg);
    cli_json_uint(j, "max_readers", st->max_readers);
    cli_json_uint(j, "messages", st->messages);
    cli_json_uint(j, "bytes", st->bytes);
    cli_json_uint(j, "position", st->position);
    cli_json_int(j, "writer_pid", st->writer_pid);
    cli_json_alive(j, "writer_alive", st->writer_pid ? st->writer_alive : 0);
    cli_json_bool(j, "closed", st->closed);
    cli_json_uint(j, "evictions", st->evictions);
    cli_json_uint(j, "producer_deaths", st->producer_deaths);
    cli_json_begin_array(j, "readers");
    for (int i = 0; i < n; i++) {
        const shmkit_reader_stat_t *r = &st->readers[i];
        cli_json_begin_object(j, NULL);
        cli_json_int(j, "pid", r->pid);
        cli_json_alive(j, "alive", r->alive);
        cli_json_uint(j, "position", r->position);
        cli_json_uint(j, "lag", r->lag);
        cli_json_uint(j, "messages", r->messages);
        cli_json_uint(j, "lost", r->lost);
        cli_json_end_object(j);
    }
    cli_json_end_array(j);
    cli_json_end_object(j);
}

/* ------------------------------------------------------------------------ */
/* pub                                                                      */
/* ------------------------------------------------------------------------ */

static const char pub_usage[] =
    "shmkit pub NAME [--create [--kind queue|bus|latest] [--capacity SIZE] "
    "[--reliable] [--max-msg SIZE] [--mode OCTAL]] [--wait-readers N] "
    "[--timeout SECONDS] [--lines] [--chunk SIZE] "
    "[--wait spin|yield|block|adaptive] [--owner-only]";

static void pub_help(void)
{
    fputs("usage: shmkit pub NAME [--create [--kind queue|bus|latest]\n"
          "                  [--capacity SIZE] [--reliable] [--max-msg SIZE]\n"
          "                  [--mode OCTAL]] [--wait-readers N]\n"
          "                  [--timeout SECONDS] [--lines] [--chunk SIZE]\n"
          "                  [--wait spin|yield|block|adaptive] [--owner-only]\n"
          "\n"
          "Reads stdin until EOF and publishes it on the channel NAME, then\n"
          "closes the channel: subscribers drain what is left and exit 0.\n"
          "By default each message is what one read() returned (at most\n"
          "--chunk bytes), so a slow source such as 'tail -f' is passed on\n"
          "at once; a regular file is read straight into the channel's\n"
          "memory.  'shmkit sub NAME' writes the same bytes out again.\n"
          "SIGINT, SIGTERM and SIGHUP also close the channel cleanly.  When\n"
          "pub fails part way (stdin cannot be read, a line is too long),\n"
          "it leaves the stream as a writer that died would: subscribers\n"
          "write what was sent and exit 4, not 0.  On a full queue or\n"
          "reliable bus pub waits for the readers; a lossy bus never makes\n"
          "it wait.  On a latest channel each read() is one value, and a\n"
          "value larger than the channel's largest is an error.\n"
          "\n"
          "Without --create the channel must exist (see 'shmkit create');\n"
          "pub waits --timeout seconds (default 1) for it to appear.\n"
          "\n"
          "options:\n"
          "      --create            create the channel if it does not exist;\n"
          "                          it is owned: it disappears when pub and\n"
          "                          every subscriber are gone.  An existing\n"
          "                          channel is just opened.\n"
          "      --kind K            queue (default), bus or latest (--create)\n"
          "      --capacity SIZE     ring bytes (--create), default 1M; latest:\n"
          "                          the largest value, default 64K\n"
          "      --reliable          bus: wait for the slowest reader instead\n"
          "                          of overwriting (--create)\n"
          "      --max-msg SIZE      largest message (--create), default a\n"
          "                          quarter of the capacity\n"
          "      --mode OCTAL        permission bits (--create), default 0600\n"
          "  -r, --wait-readers N    wait until N readers have joined before\n"
          "                          sending (a bus reader sees only what is\n"
          "                          sent after it joined)\n"
          "  -t, --timeout SECONDS   give up waiting for the channel or the\n"
          "                          readers after this long (exit 5)\n"
          "  -l, --lines             one message per line, newline included;\n"
          "                          the lines of one read of stdin are\n"
          "                          published together, before the next read;\n"
          "                          a line longer than the largest message is\n"
          "                          an error\n"
          "  -c, --chunk SIZE        largest raw message, default 256K or an\n"
          "                          eighth of the ring (at least 4K), the\n"
          "                          smaller, and at most the channel's\n"
          "                          largest message\n"
          "  -w, --wait MODE         how to wait for space: adaptive (default:\n"
          "                          spin briefly, then sleep), spin, yield,\n"
          "                          block\n"
          "      --owner-only        refuse a channel that another user owns\n"
          "                          or created (a name squatted first)\n"
          "  -h, --help              show this help\n"
          "\n"
          "examples:\n"
          "  shmkit pub frames --create --kind bus --reliable --wait-readers 2 "
          "< video.raw\n"
          "  tail -f app.log | shmkit pub logs --create --lines\n"
          "  shmkit create jobs --kind queue --capacity 16M && shmkit pub jobs "
          "--lines < jobs.txt\n"
          "\n", stdout);
    fputs(CLI_HELP_EXIT_CODES, stdout);
}

enum {
    OPT_CREATE = 256,
    OPT_KIND,
    OPT_CAPACITY,
    OPT_RELIABLE,
    OPT_MAX_MSG,
    OPT_MODE,
    OPT_WAIT_MODE,
    OPT_OWNER_ONLY,
};

/* Reserves len bytes, waiting in slices for space; -EINTR on a stop. */
static int pub_reserve(shmkit_writer_t *w, size_t len, void **buf)
{
    for (;;) {
        int rc = shmkit_writer_reserve(w, len, buf, SLICE_NS);
        if (rc != -ETIMEDOUT && rc != -EAGAIN)
            return rc;
        if (g_stop)
            return -EINTR;
    }
}

/* more: readers see it with the next plain send or flush (a batch) */
static int pub_send(shmkit_writer_t *w, const void *p, size_t len, int more)
{
    void *buf;
    int rc = pub_reserve(w, len, &buf);
    if (rc < 0)
        return rc;
    memcpy(buf, p, len);
    return more ? shmkit_writer_commit_more(w, len) : shmkit_writer_commit(w, len);
}

static int pub_send_failed(int rc)
{
    if (rc == -EINTR)
        return CLI_EXIT_OK; /* stopped by a signal: close cleanly */
    return cli_lib_error(rc, "pub: sending", NULL);
}

static int stdin_failed(int err)
{
    return cli_error("pub stops; its subscribers write what was sent and "
                     "exit 4, as if pub had died", "pub: reading stdin: %s",
                     strerror(err));
}

/* Raw mode from a pipe, terminal or socket: whatever read() returns.
 * whole (a latest): each read is a value, and one longer than chunk (the
 * largest value) is an error, not a value cut in pieces that overwrite
 * each other. */
static int pub_raw_stream(shmkit_writer_t *w, size_t chunk, int whole,
                          const char *name)
{
    unsigned char *buf = malloc(chunk + 1);
    int rc = CLI_EXIT_OK;

    if (buf == NULL)
        return cli_error(NULL, "out of memory");
    while (!g_stop) {
        ssize_t n = read(0, buf, chunk + (whole ? 1 : 0));
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = stdin_failed(errno);
            break;
        }
        if ((size_t)n > chunk) {
            char safe[300];
            cli_safe_copy(safe, sizeof safe, name);
            rc = cli_error(NULL, "pub: a value of more than %zu bytes, the "
                           "largest value of the latest channel %s", chunk,
                           safe);
            cli_hint("each read of stdin is one value; send one value per "
                     "line with --lines, or re-create it with a larger "
                     "--capacity: 'shmkit rm %s; shmkit create %s --kind "
                     "latest --capacity SIZE'", safe, safe);
            break;
        }
        int s = pub_send(w, buf, (size_t)n, 0);
        if (s < 0) {
            rc = pub_send_failed(s);
            break;
        }
    }
    free(buf);
    return rc;
}

/* Raw mode from a regular file: read() straight into the reserved message.
 * The size says how much is left, so no message is reserved at EOF; a
 * file that reports no size (/proc) or that grew is read the plain way. */
static int pub_raw_file(shmkit_writer_t *w, size_t chunk, const struct stat *st0)
{
    off_t off = lseek(0, 0, SEEK_CUR);
    off_t size = st0->st_size;
    unsigned char *tmp = NULL;
    int rc = CLI_EXIT_OK;

    if (off < 0)
        return pub_raw_stream(w, chunk, 0, NULL);
    while (!g_stop) {
        if (off >= size) {
            struct stat st;
            if (fstat(0, &st) == 0 && st.st_size > off) {
                size = st.st_size; /* it grew */
                continue;
            }
            /* At the size we knew: EOF, or a file whose size lies. */
            if (tmp == NULL && (tmp = malloc(chunk)) == NULL) {
                rc = cli_error(NULL, "out of memory");
                break;
            }
            ssize_t n = read(0, tmp, chunk);
            if (n == 0)
                break;
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                rc = stdin_failed(errno);
                break;
            }
            int s = pub_send(w, tmp, (size_t)n, 0);
            if (s < 0) {
                rc = pub_send_failed(s);
                break;
            }
            off += n;
            continue;
        }
        size_t want = (uint64_t)(size - off) < chunk ? (size_t)(size - off)
                                                     : chunk;
        void *buf;
        int s = pub_reserve(w, want, &buf);
        if (s < 0) {
            rc = pub_send_failed(s);
            break;
        }
        ssize_t n;
        do
            n = read(0, buf, want);
        while (n < 0 && errno == EINTR && !g_stop);
        if (n < 0) {
            int e = errno;
            shmkit_writer_commit(w, 0); /* no way to take a claim back */
            if (e == EINTR)
                break;
            rc = stdin_failed(e);
            break;
        }
        /* n < want: the file shrank under us; send what we got */
        s = shmkit_writer_commit(w, (size_t)n);
        if (s < 0) {
            rc = cli_lib_error(s, "pub: commit", NULL);
            break;
        }
        off += n;
        if (n == 0)
            size = off;
    }
    free(tmp);
    return rc;
}

/* --lines: one message per line, newline included. */
static int pub_lines(shmkit_writer_t *w, size_t max_msg, const char *name)
{
    size_t cap = max_msg + 1 > SUB_BUF_MIN ? max_msg + 1 : SUB_BUF_MIN;
    unsigned char *buf = malloc(cap);
    size_t have = 0, start = 0, scanned = 0;
    int rc = CLI_EXIT_OK, eof = 0;
    char safe[300];

    if (buf == NULL)
        return cli_error(NULL, "out of memory");
    cli_safe_copy(safe, sizeof safe, name);
    while (!g_stop) {
        unsigned char *nl;
        /* send the complete lines in buf[start, have) as one batch: the
         * readers get them with the flush below, before a read() that may
         * block (many short lines cost one commit, not one each) */
        while ((nl = memchr(buf + scanned, '\n', have - scanned)) != NULL) {
            size_t len = (size_t)(nl - (buf + start)) + 1;
            if (len > max_msg)
                break;
            int s = pub_send(w, buf + start, len, 1);
            if (s < 0) {
                rc = pub_send_failed(s);
                goto out;
            }
            start += len;
            scanned = start;
        }
        if (nl == NULL)
            scanned = have;
        shmkit_writer_flush(w);
        if ((nl != NULL) || have - start > max_msg) {
            rc = cli_error(NULL, "pub: a line is longer than %zu bytes, the "
                           "largest message of %s", max_msg, safe);
            cli_hint("with --create, raise --max-msg (and --capacity: "
                     "--max-msg may be at most half of it, less 16 bytes); "
                     "an existing channel must be "
                     "re-created: 'shmkit rm %s; shmkit create %s --kind K "
                     "--capacity SIZE --max-msg SIZE'", safe, safe);
            goto out;
        }
        if (eof) {
            if (have > start) { /* a last line without a newline */
                int s = pub_send(w, buf + start, have - start, 0);
                if (s < 0)
                    rc = pub_send_failed(s);
            }
            break;
        }
        if (start > 0) {
            memmove(buf, buf + start, have - start);
            have -= start;
            scanned -= start;
            start = 0;
        }
        ssize_t n = read(0, buf + have, cap - have);
        if (n == 0) {
            eof = 1;
            continue;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = stdin_failed(errno);
            break;
        }
        have += (size_t)n;
    }
out:
    free(buf);
    return rc;
}

int cli_cmd_pub(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"create", no_argument, NULL, OPT_CREATE},
        {"kind", required_argument, NULL, OPT_KIND},
        {"capacity", required_argument, NULL, OPT_CAPACITY},
        {"reliable", no_argument, NULL, OPT_RELIABLE},
        {"max-msg", required_argument, NULL, OPT_MAX_MSG},
        {"mode", required_argument, NULL, OPT_MODE},
        {"wait-readers", required_argument, NULL, 'r'},
        {"timeout", required_argument, NULL, 't'},
        {"lines", no_argument, NULL, 'l'},
        {"chunk", required_argument, NULL, 'c'},
        {"wait", required_argument, NULL, 'w'},
        {"wait-mode", required_argument, NULL, 'w'},
        {"owner-only", no_argument, NULL, OPT_OWNER_ONLY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    shmkit_channel_opts_t co;
    shmkit_endpoint_opts_t eo;
    shmkit_writer_t *w = NULL;
    shmkit_kind_t kind = SHMKIT_KIND_QUEUE;
    shmkit_wait_t wait = SHMKIT_WAIT_ADAPTIVE;
    uint64_t capacity = PUB_CAPACITY_DEFAULT, max_msg = 0, chunk = PUB_CHUNK_DEFAULT;
    int have_chunk = 0;
    uint64_t nreaders = 0, timeout_ms = 1000, t0;
    uint32_t mode = 0600;
    int create = 0, owner_only = 0, lines = 0, reliable = 0, have_timeout = 0, have_capacity = 0;
    int chan_opts = 0, c, rc, ret;
    const char *name;
    size_t msg_max;
    struct stat st;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":r:t:lc:w:h", lopts, NULL)) != -1) {
        switch (c) {
        case OPT_CREATE: create = 1; break;
        case OPT_OWNER_ONLY: owner_only = 1; break;
        case OPT_KIND:
            if (cli_parse_kind(optarg, &kind) < 0 || kind == SHMKIT_KIND_RAW)
                return cli_usage_error("pub", pub_usage, NULL,
                                       "--kind '%s' is not one of queue, bus, "
                                       "latest", optarg);
            chan_opts = 1;
            break;
        case OPT_CAPACITY:
            if ((rc = cli_parse_size(optarg, &capacity)) < 0)
                return cli_usage_error("pub", pub_usage,
                                       "examples: 64K, 4M, 1G",
                                       "--capacity '%s' %s", optarg,
                                       rc == -ERANGE ? "is out of range (at "
                                                       "least 1 byte)"
                                                     : "is not a size");
            chan_opts = 1;
            have_capacity = 1;
            break;
        case OPT_RELIABLE: reliable = 1; chan_opts = 1; break;
        case OPT_MAX_MSG:
            if ((rc = cli_parse_size(optarg, &max_msg)) < 0 ||
                max_msg > UINT32_MAX)
                return cli_usage_error("pub", pub_usage,
                                       "examples: 4K, 1M",
                                       "--max-msg '%s' %s", optarg,
                                       rc == -EINVAL ? "is not a size"
                                                     : "is out of range (1 "
                                                       "byte to 4 GiB)");
            chan_opts = 1;
            break;
        case OPT_MODE:
            if (cli_parse_mode(optarg, &mode) < 0)
                return cli_usage_error("pub", pub_usage,
                                       "examples: 0600, 0660",
                                       "--mode '%s' is not an octal mode "
                                       "between 0000 and 0777", optarg);
            chan_opts = 1;
            break;
        case 'r':
            if (cli_parse_uint(optarg, 1, SHMKIT_MAX_READERS, &nreaders) < 0)
                return cli_usage_error("pub", pub_usage, NULL,
                                       "--wait-readers '%s' is not a number "
                                       "from 1 to %d", optarg,
                                       SHMKIT_MAX_READERS);
            break;
        case 't':
            if ((rc = cli_parse_seconds(optarg, &timeout_ms)) < 0)
                return cli_usage_error("pub", pub_usage, NULL,
                                       "--timeout '%s' %s", optarg,
                                       seconds_problem(rc));
            have_timeout = 1;
            break;
        case 'l': lines = 1; break;
        case 'c':
            have_chunk = 1;
            if ((rc = cli_parse_size(optarg, &chunk)) < 0 || chunk > UINT32_MAX)
                return cli_usage_error("pub", pub_usage, "examples: 4K, 64K",
                                       "--chunk '%s' %s", optarg,
                                       rc == -EINVAL ? "is not a size"
                                                     : "is out of range (1 "
                                                       "byte to 4 GiB)");
            break;
        case 'w':
            if (cli_parse_wait(optarg, &wait) < 0)
                return cli_usage_error("pub", pub_usage, NULL,
                                       "--wait '%s' is not one of adaptive, "
                                       "spin, yield, block", optarg);
            break;
        case 'h': pub_help(); return CLI_EXIT_OK;
        default: return cli_bad_option("pub", pub_usage, argv, c);
        }
    }
    int rc_name = cli_one_name("pub", pub_usage, argc, argv, &name);
    if (rc_name != 0)
        return rc_name;
    if (chan_opts && !create)
        return cli_usage_error("pub", pub_usage,
                               "they describe the channel to create: add "
                               "--create, or use 'shmkit create' first",
                               "--kind, --capacity, --reliable, --max-msg and "
                               "--mode need --create");
    if (reliable && kind != SHMKIT_KIND_BUS)
        return cli_usage_error("pub", pub_usage, NULL,
                               "--reliable is for --kind bus");
    if (create) {
        shmkit_backend_t b = cli_name_backend(name);
        if (b == SHMKIT_BACKEND_MEMFD || b == SHMKIT_BACKEND_ANON)
            return cli_usage_error("pub", pub_usage,
                                   "subscribers open the channel by name: "
                                   "use a POSIX, sysv: or file: name",
                                   "cannot create '%s' from the command "
                                   "line", name);
    }
    if (cli_closed_stdio & 1u)
        return cli_usage_error("pub", pub_usage,
                               "give it a file or a pipe: shmkit pub NAME "
                               "< FILE",
                               "stdin is closed: nothing to publish");

    install_stop_handlers();
    shmkit_channel_opts_init(&co, kind);
    if (!have_capacity && kind == SHMKIT_KIND_LATEST)
        capacity = PUB_LATEST_DEFAULT; /* a latest holds one value */
    co.capacity = capacity;
    co.max_msg = (uint32_t)max_msg;
    co.reliable = reliable;
    co.seg.mode = mode;
    co.seg.persistent = 0;
    shmkit_endpoint_opts_init(&eo);
    eo.wait = wait;
    eo.owner_only = owner_only;
    eo.open_timeout_ms = timeout_ms > INT32_MAX ? INT32_MAX : (int)timeout_ms;
    eo.create = create ? &co : NULL;

    t0 = cli_now_ns();
    shmkit_clear_error();
    rc = shmkit_writer_open(name, &eo, &w);
    if (rc < 0) {
        int x = open_failed(rc, "pub", name, timeout_ms, create);
        /* the library refused the channel options given: bad usage, as
         * for 'shmkit create' */
        return create && rc == -EINVAL ? CLI_EXIT_USAGE : x;
    }

    msg_max = shmkit_writer_max_msg(w);
    int is_latest = 0;
    if (!lines) {
        shmkit_channel_stat_t *cst = calloc(1, sizeof *cst);
        if (cst != NULL && shmkit_channel_stat(name, cst) == 0) {
            is_latest = cst->kind == SHMKIT_KIND_LATEST;
            /* at most an eighth of the ring, less the largest record
             * header and its rounding (24 bytes: eight records fit, and
             * each is under the eighth that the writer's fast path takes),
             * at least 4K */
            uint64_t lim = cst->capacity / PUB_CHUNK_RING;
            lim = lim > 4096 + 24 ? lim - 24 : 4096;
            if (!have_chunk && !is_latest && chunk > lim)
                chunk = lim;
        }
        shmkit_clear_error(); /* a failed look changes nothing */
        free(cst);
    }
    if (chunk > msg_max || is_latest)
        chunk = msg_max; /* a latest: a value is what one read returns */

    /* Wait for the readers to join: poll every 50 us at first, backing off
     * to every millisecond (a reader that joins at once costs no sleep). */
    unsigned poll_us = 50;
    while (nreaders > 0 && !g_stop) {
        int n = shmkit_writer_readers(w);
        if (n >= 0 && (uint64_t)n >= nreaders)
            break;
        if (have_timeout && cli_now_ns() - t0 >= timeout_ms * 1000000ull) {
            char safe[300];
            cli_safe_copy(safe, sizeof safe, name);
            fprintf(stderr, "shmkit: error: pub: %d of %llu readers joined "
                            "%s within %.1f s\n", n < 0 ? 0 : n,
                    (unsigned long long)nreaders, safe,
                    (double)timeout_ms / 1000.0);
            cli_hint("start them with 'shmkit sub %s', or wait longer with "
                     "--timeout SECONDS", safe);
            shmkit_writer_close(w);
            return CLI_EXIT_TIMEOUT;
        }
        cli_sleep_us(poll_us);
        if (poll_us < 1000)
            poll_us *= 2;
    }

    if (lines)
        ret = pub_lines(w, msg_max, name);
    else if (is_latest)
        ret = pub_raw_stream(w, (size_t)chunk, 1, name);
    else if (fstat(0, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        ret = pub_raw_file(w, (size_t)chunk, &st);
    else
        ret = pub_raw_stream(w, (size_t)chunk, 0, NULL);

    shmkit_clear_error();
    if (ret != CLI_EXIT_OK) {
        /* Input or a send failed part way: not the end of the stream.
         * Readers drain what was sent and learn that the writer is gone
         * (sub exits 4), rather than take a cut-short stream for a
         * finished one. */
        shmkit_writer_abort(w);
        return ret;
    }
    rc = shmkit_writer_close(w);
    if (rc < 0)
        ret = cli_lib_error(rc, "pub: closing the channel", NULL);
    return ret;
}

/* ------------------------------------------------------------------------ */
/* sub                                                                      */
/* ------------------------------------------------------------------------ */

static const char sub_usage[] =
    "shmkit sub NAME [--wait SECONDS] [--count N] [--lines] "
    "[--wait-mode spin|yield|block|adaptive] [--owner-only]";

static void sub_help(void)
{
    fputs("usage: shmkit sub NAME [--wait SECONDS] [--count N] [--lines]\n"
          "                  [--wait-mode spin|yield|block|adaptive]\n"
          "                  [--owner-only]\n"
          "\n"
          "Joins the channel NAME as a reader and writes every message to\n"
          "stdout, byte for byte, until the writer closes the channel and\n"
          "everything was read (exit 0).  A bus reader sees the messages\n"
          "sent after it joined; a queue has one reader, which gets what is\n"
          "queued.  On a latest channel each new value is written.  SIGINT,\n"
          "SIGTERM and SIGHUP leave the channel cleanly (exit 0, or 3 if\n"
          "messages were lost).\n"
          "\n"
          "A reader of a lossy bus that falls a whole ring behind loses\n"
          "messages: sub goes on, says how many on stderr at the end\n"
          "(\"shmkit: warning: N messages lost\") and exits 3.  If the writer\n"
          "died without closing, sub writes what it had committed and\n"
          "exits 4.  A queue's message is taken only once stdout took it:\n"
          "when a write fails (exit 1) or sub is killed, the queue keeps the\n"
          "rest for its next reader, and what was written since sub last\n"
          "told the queue (at most a quarter of the ring) comes again.\n"
          "\n"
          "options:\n"
          "  -W, --wait SECONDS   wait this long for the channel to appear\n"
          "                       (default 1; exit 5 if it does not)\n"
          "  -n, --count N        exit after N messages\n"
          "  -l, --lines          end each message with a newline (added when\n"
          "                       it has none)\n"
          "  -w, --wait-mode M    how to wait for messages: adaptive (default:\n"
          "                       spin briefly, then sleep), spin, yield, block\n"
          "      --owner-only     refuse a channel that another user owns or\n"
          "                       created (a name squatted first)\n"
          "  -h, --help           show this help\n"
          "\n"
          "examples:\n"
          "  shmkit sub frames > copy.raw\n"
          "  shmkit sub logs --wait 10 --lines | grep ERROR\n"
          "  shmkit sub sensor --count 1      # one value of a latest channel\n"
          "\n"
          "exit status:\n"
          "  0 the writer closed the channel (or --count was reached, or a\n"
          "    signal), 1 error, 2 bad usage, 3 messages were lost,\n"
          "  4 the writer died without closing, 5 the channel did not appear\n",
          stdout);
}

struct sub_out {
    unsigned char *buf;
    size_t len, cap;
    int err; /* first stdout error (-errno), 0 when none */
};

static int out_flush(struct sub_out *o)
{
    if (o->err)
        return o->err;
    if (o->len) {
        int rc = write_all(1, o->buf, o->len);
        o->len = 0;
        if (rc < 0)
            o->err = rc;
    }
    return o->err;
}

/* Makes room for need bytes at the end of the buffer (growing it when
 * need is larger than the whole buffer). */
static int out_room(struct sub_out *o, size_t need)
{
    if (o->cap - o->len >= need)
        return 0;
    if (out_flush(o) < 0)
        return o->err;
    if (o->cap < need) {
        unsigned char *nb = realloc(o->buf, need);
        if (nb == NULL)
            return o->err = -ENOMEM;
        o->buf = nb;
        o->cap = need;
    }
    return 0;
}

/* Writes one message (from the ring, or the latest reader's copy). */
static int out_message(struct sub_out *o, const void *p, size_t len, int lines)
{
    int nl = lines && (len == 0 || ((const unsigned char *)p)[len - 1] != '\n');
    if (len >= SUB_DIRECT_MIN) {
        /* straight from the ring: what is buffered goes first */
        if (out_flush(o) < 0)
            return o->err;
        int rc = write_all(1, p, len);
        if (rc < 0)
            return o->err = rc;
    } else {
        if (out_room(o, len + 1) < 0)
            return o->err;
        memcpy(o->buf + o->len, p, len);
        o->len += len;
    }
    if (nl) {
        if (out_room(o, 1) < 0)
            return o->err;
        o->buf[o->len++] = '\n';
    }
    return 0;
}

static int sub_stdout_failed(int err)
{
    if (err == -EPIPE || err == -EINTR)
        return CLI_EXIT_ERROR; /* the reader of our stdout left, or ^C */
    return cli_error(NULL, "sub: writing to stdout: %s", strerror(-err));
}

int cli_cmd_sub(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"wait", required_argument, NULL, 'W'},
        {"count", required_argument, NULL, 'n'},
        {"lines", no_argument, NULL, 'l'},
        {"wait-mode", required_argument, NULL, 'w'},
        {"owner-only", no_argument, NULL, OPT_OWNER_ONLY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    shmkit_endpoint_opts_t eo;
    shmkit_reader_t *r = NULL;
    shmkit_channel_stat_t *st;
    shmkit_wait_t wait = SHMKIT_WAIT_ADAPTIVE;
    struct sub_out out = {NULL, 0, 0, 0};
    uint64_t wait_ms = 1000, count = 0, got = 0, lost, ack_every = SUB_BUF_MIN;
    uint64_t unacked = 0; /* ring bytes released since the last ack */
    int lines = 0, lossy = 0, c, rc, ret = CLI_EXIT_OK, peer_gone = 0;
    int owner_only = 0;
    size_t max_msg = 0;
    const char *name;
    char safe[300];

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":W:n:lw:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'W':
            if ((rc = cli_parse_seconds(optarg, &wait_ms)) < 0)
                return cli_usage_error("sub", sub_usage, NULL,
                                       "--wait '%s' %s", optarg,
                                       seconds_problem(rc));
            break;
        case 'n':
            if (cli_parse_uint(optarg, 1, UINT64_MAX, &count) < 0)
                return cli_usage_error("sub", sub_usage, NULL,
                                       "--count '%s' is not a positive "
                                       "number", optarg);
            break;
        case 'l': lines = 1; break;
        case OPT_OWNER_ONLY: owner_only = 1; break;
        case 'w':
            if (cli_parse_wait(optarg, &wait) < 0)
                return cli_usage_error("sub", sub_usage, NULL,
                                       "--wait-mode '%s' is not one of "
                                       "adaptive, spin, yield, block", optarg);
            break;
        case 'h': sub_help(); return CLI_EXIT_OK;
        default: return cli_bad_option("sub", sub_usage, argv, c);
        }
    }
    int rc_name = cli_one_name("sub", sub_usage, argc, argv, &name);
    if (rc_name != 0)
        return rc_name;
    cli_safe_copy(safe, sizeof safe, name);
    if (cli_closed_stdio & 2u) /* taking messages to throw them away */
        return cli_usage_error("sub", sub_usage,
                               "send them somewhere: shmkit sub NAME > FILE "
                               "(or > /dev/null to drop them)",
                               "stdout is closed: the messages would be "
                               "taken from the channel and lost");

    install_stop_handlers();
    shmkit_endpoint_opts_init(&eo);
    eo.wait = wait;
    eo.owner_only = owner_only;
    eo.open_timeout_ms = wait_ms > INT32_MAX ? INT32_MAX : (int)wait_ms;
    /* what stdout did not take stays in a queue (a lossy bus and a latest
     * keep nothing for us anyway: there it changes nothing) */
    eo.manual_ack = 1;
    shmkit_clear_error();
    rc = shmkit_reader_open(name, &eo, &r);
    if (rc < 0)
        return open_failed(rc, "sub", name, wait_ms, 0);

    /* What kind of channel is it?  (The largest message sizes the buffer;
     * recv says so if it was wrong.) */
    st = calloc(1, sizeof *st);
    if (st != NULL && shmkit_channel_stat(name, st) == 0) {
        lossy = st->kind == SHMKIT_KIND_BUS && !st->reliable;
        max_msg = st->max_msg;
        /* write and acknowledge at least every quarter of the ring (in
         * ring bytes: records, headers included), so that what sits in
         * our buffer never holds the writer up */
        if (st->capacity / 4 < ack_every)
            ack_every = st->capacity / 4;
    } else {
        lossy = 1; /* the safe way to read any kind */
    }
    free(st);
    out.cap = max_msg + 1 > SUB_BUF_MIN ? max_msg + 1 : SUB_BUF_MIN;
    out.buf = malloc(out.cap);
    if (out.buf == NULL) {
        shmkit_reader_close(r);
        return cli_error(NULL, "out of memory");
    }

    while (!g_stop && (count == 0 || got < count)) {
        const void *p = NULL;
        size_t len = 0;
        if (lossy) {
            /* room for the largest message and a newline */
            if (out_room(&out, max_msg + 1) < 0)
                break;
            rc = shmkit_reader_recv(r, out.buf + out.len,
                                    out.cap - out.len - 1, &len, 0);
            if (rc == -EAGAIN) {
                if (out_flush(&out) < 0)
                    break;
                /* nothing on a lossy bus; a queue read this way (its
                 * kind unknown: the stat failed) must not keep its room */
                shmkit_reader_ack(r);
                rc = shmkit_reader_recv(r, out.buf + out.len,
                                        out.cap - out.len - 1, &len, SLICE_NS);
            }
        } else {
            rc = shmkit_reader_peek(r, &p, &len, 0);
            if (rc == -EAGAIN) {
                if (out_flush(&out) < 0)
                    break;
                shmkit_reader_ack(r); /* all of it is written */
                unacked = 0;
                rc = shmkit_reader_peek(r, &p, &len, SLICE_NS);
            }
        }
        if (rc == 0) {
            if (lossy) {
                const unsigned char *m = out.buf + out.len;
                out.len += len;
                if (lines && (len == 0 || m[len - 1] != '\n'))
                    out.buf[out.len++] = '\n';
            } else {
                /* A message that stdout refused is not released: a queue
                 * keeps it for the next reader. */
                if (out_message(&out, p, len, lines) < 0)
                    break;
                int rr = shmkit_reader_release(r);
                if (rr < 0 && rr != SHMKIT_E_OVERRUN) {
                    ret = cli_lib_error(rr, "sub: release", NULL);
                    break;
                }
                unacked += (len + 16 + 7) & ~(uint64_t)7; /* its record */
                if (out.len == 0 || unacked >= ack_every) {
                    if (out_flush(&out) < 0)
                        break;
                    shmkit_reader_ack(r); /* written, so taken */
                    unacked = 0;
                }
            }
            got++;
            continue;
        }
        if (rc == -ETIMEDOUT || rc == -EAGAIN || rc == SHMKIT_E_LOST ||
            rc == SHMKIT_E_OVERRUN)
            continue; /* losses are counted by the reader */
        if (rc == -EMSGSIZE && lossy) {
            /* bigger than we were told: make room for it */
            if (out_room(&out, len + 1) < 0)
                break;
            max_msg = len;
            continue;
        }
        if (rc == SHMKIT_E_CLOSED)
            break;
        if (rc == SHMKIT_E_PEER_GONE) {
            peer_gone = 1;
            break;
        }
        ret = cli_lib_error(rc, "sub: reading", NULL);
        break;
    }
    if (out_flush(&out) == 0)
        shmkit_reader_ack(r);
    lost = shmkit_reader_lost(r);
    shmkit_clear_error();
    rc = shmkit_reader_close(r);
    free(out.buf);
    if (out.err && ret == CLI_EXIT_OK && !(out.err == -EINTR && g_stop))
        ret = sub_stdout_failed(out.err);
    if (rc < 0 && ret == CLI_EXIT_OK)
        ret = cli_lib_error(rc, "sub: closing the reader", NULL);
    if (peer_gone)
        fprintf(stderr, "shmkit: warning: the writer of %s died without "
                        "closing it; everything it committed was written\n",
                safe);
    if (lost) {
        fprintf(stderr, "shmkit: warning: %llu message%s lost\n",
                (unsigned long long)lost, lost == 1 ? "" : "s");
        cli_hint("this reader fell a whole ring behind the writer of a "
                 "lossy bus; a larger --capacity, a faster consumer, or "
                 "--reliable keeps up");
    }
    if (ret != CLI_EXIT_OK)
        return ret;
    if (lost)
        return CLI_EXIT_LOST;
    if (peer_gone)
        return CLI_EXIT_PEER_DIED;
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* top                                                                      */
/* ------------------------------------------------------------------------ */

static const char top_usage[] =
    "shmkit top [--once] [--json] [--interval SECONDS]";

static void top_help(void)
{
    fputs("usage: shmkit top [--once] [--json] [--interval SECONDS]\n"
          "\n"
          "A live view of every shmkit channel (queue, bus, latest) on this\n"
          "host, refreshed every second: messages, messages/s and bytes/s\n"
          "since the last refresh, live readers, the largest lag of a live\n"
          "reader (bytes it is behind the writer), messages lost by readers\n"
          "in total, and the writer's pid and whether it is alive.  Reads the\n"
          "counters in the segments; it joins no channel.  q or Ctrl-C quits.\n"
          "\n"
          "options:\n"
          "  -1, --once              print one snapshot and exit (the rates\n"
          "                          come from two samples 200 ms apart)\n"
          "  -j, --json              print JSON: an array of objects with\n"
          "                          name, kind, messages, bytes, msgs_per_s,\n"
          "                          bytes_per_s, readers, max_lag, lost,\n"
          "                          writer_pid, writer_alive, closed,\n"
          "                          reliable, capacity\n"
          "  -i, --interval SECONDS  refresh period, default 1\n"
          "  -h, --help              show this help\n"
          "\n"
          "examples:\n"
          "  shmkit top\n"
          "  shmkit top --once --json | jq '.[] | select(.lost > 0)'\n"
          "\n", stdout);
    fputs(CLI_HELP_EXIT_CODES, stdout);
}

struct top_row {
    char name[256];
    shmkit_channel_stat_t st;
    double mps, bps;
    int readers;
    uint64_t max_lag, lost;
};

struct top_sample {
    struct top_row *rows;
    size_t n, cap;
    uint64_t t_ns;
};

static int top_collect_cb(const shmkit_segment_info_t *in, void *ctx)
{
    struct top_sample *s = ctx;
    struct top_row *row;

    if (!in->is_shmkit || in->check != 0 || !cli_kind_is_channel(in->kind))
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct top_row *nr = realloc(s->rows, cap * sizeof *nr);
        if (nr == NULL)
            return -ENOMEM;
        s->rows = nr;
        s->cap = cap;
    }
    row = &s->rows[s->n];
    memset(row, 0, sizeof *row);
    snprintf(row->name, sizeof row->name, "%s", in->name);
    /* gone since it was listed, or not ours to read: not shown */
    if (shmkit_channel_stat(in->name, &row->st) != 0)
        return 0;
    for (int i = 0; i < row->st.nreaders && i < SHMKIT_MAX_READERS; i++) {
        const shmkit_reader_stat_t *r = &row->st.readers[i];
        row->lost += r->lost;
        if (r->alive == 0)
            continue;
        row->readers++;
        if (row->st.kind != SHMKIT_KIND_LATEST && r->lag > row->max_lag)
            row->max_lag = r->lag;
    }
    s->n++;
    return 0;
}

static int top_row_cmp(const void *a, const void *b)
{
    return strcmp(((const struct top_row *)a)->name,
                  ((const struct top_row *)b)->name);
}

static int top_sample(struct top_sample *s)
{
    int rc;
    s->n = 0;
    shmkit_clear_error();
    rc = shmkit_segment_list(top_collect_cb, s);
    s->t_ns = cli_now_ns();
    if (rc < 0)
        return rc;
    if (s->n > 1)
        qsort(s->rows, s->n, sizeof *s->rows, top_row_cmp);
    return 0;
}

/* Rates of cur against prev (matched by name). */
static void top_rates(struct top_sample *cur, const struct top_sample *prev)
{
    double dt = (double)(cur->t_ns - prev->t_ns) / 1e9;
    for (size_t i = 0; i < cur->n; i++) {
        struct top_row *r = &cur->rows[i];
        r->mps = r->bps = 0;
        for (size_t k = 0; k < prev->n && dt > 0; k++) {
            const struct top_row *p = &prev->rows[k];
            if (strcmp(p->name, r->name) != 0)
                continue;
            if (r->st.messages >= p->st.messages)
                r->mps = (double)(r->st.messages - p->st.messages) / dt;
            if (r->st.bytes >= p->st.bytes)
                r->bps = (double)(r->st.bytes - p->st.bytes) / dt;
            break;
        }
    }
}

/* 1234 -> "1234", 12345 -> "12.3k", 12345678 -> "12.3M". */
static char *fmt_count(double v, char *buf, size_t len)
{
    static const char units[] = "kMGTPE";
    int u = -1;
    if (v < 10000) {
        snprintf(buf, len, "%.0f", v);
        return buf;
    }
    while (v >= 1000 && u < 5) {
        v /= 1000;
        u++;
    }
    snprintf(buf, len, v < 100 ? "%.1f%c" : "%.0f%c", v, units[u]);
    return buf;
}

static void top_json(const struct top_sample *s)
{
    cli_json_t j;
    cli_json_init(&j, stdout);
    cli_json_begin_array(&j, NULL);
    for (size_t i = 0; i < s->n; i++) {
        const struct top_row *r = &s->rows[i];
        cli_json_begin_object(&j, NULL);
        cli_json_string(&j, "name", r->name);
        cli_json_string(&j, "kind", shmkit_kind_name(r->st.kind));
        cli_json_uint(&j, "messages", r->st.messages);
        cli_json_uint(&j, "bytes", r->st.bytes);
        cli_json_double(&j, "msgs_per_s", r->mps);
        cli_json_double(&j, "bytes_per_s", r->bps);
        cli_json_int(&j, "readers", r->readers);
        cli_json_uint(&j, "max_lag", r->max_lag);
        cli_json_uint(&j, "lost", r->lost);
        cli_json_int(&j, "writer_pid", r->st.writer_pid);
        cli_json_alive(&j, "writer_alive",
                       r->st.writer_pid ? r->st.writer_alive : 0);
        cli_json_bool(&j, "closed", r->st.closed);
        cli_json_bool(&j, "reliable", r->st.reliable);
        cli_json_uint(&j, "capacity", r->st.capacity);
        cli_json_end_object(&j);
    }
    cli_json_end_array(&j);
    cli_json_finish(&j);
}

static void top_table(const struct top_sample *s)
{
    static const char *hdr[] = {"NAME", "KIND", "MSGS", "MSG/S", "BYTES/S",
                                "READERS", "MAX_LAG", "LOST", "WRITER"};
    enum { NCOL = 9 };
    char (*cells)[NCOL][256] = calloc(s->n ? s->n : 1, sizeof *cells);
    int w[NCOL];

    if (cells == NULL)
        return;
    for (int k = 0; k < NCOL; k++)
        w[k] = (int)strlen(hdr[k]);
    for (size_t i = 0; i < s->n; i++) {
        const struct top_row *r = &s->rows[i];
        char tmp[32];
        cli_safe_copy(cells[i][0], sizeof cells[i][0], r->name);
        snprintf(cells[i][1], sizeof cells[i][1], "%s%s", shmkit_kind_name(r->st.kind),
                 r->st.kind == SHMKIT_KIND_BUS
                     ? (r->st.reliable ? "/rel" : "/lossy") : "");
        fmt_count((double)r->st.messages, cells[i][2], sizeof cells[i][2]);
        fmt_count(r->mps, cells[i][3], sizeof cells[i][3]);
        snprintf(cells[i][4], sizeof cells[i][4], "%s",
                 cli_format_size((uint64_t)(r->bps + 0.5), tmp, sizeof tmp));
        snprintf(cells[i][5], sizeof cells[i][5], "%d", r->readers);
        snprintf(cells[i][6], sizeof cells[i][6], "%s",
                 cli_format_size(r->max_lag, tmp, sizeof tmp));
        fmt_count((double)r->lost, cells[i][7], sizeof cells[i][7]);
        if (r->st.writer_pid)
            snprintf(cells[i][8], sizeof cells[i][8], "%lld%s%s", (long long)r->st.writer_pid,
                     r->st.writer_alive == 0 ? " dead"
                     : r->st.writer_alive < 0 ? " ?" : "",
                     r->st.closed ? " closed" : "");
        else
            snprintf(cells[i][8], sizeof cells[i][8], "%s", r->st.closed ? "closed" : "-");
        for (int k = 0; k < NCOL; k++) {
            int l = (int)strlen(cells[i][k]);
            if (l > w[k])
                w[k] = l;
        }
    }
    printf("%-*s  %-*s  %*s  %*s  %*s  %*s  %*s  %*s  %s\n", w[0], hdr[0],
           w[1], hdr[1], w[2], hdr[2], w[3], hdr[3], w[4], hdr[4], w[5],
           hdr[5], w[6], hdr[6], w[7], hdr[7], hdr[8]);
    for (size_t i = 0; i < s->n; i++)
        printf("%-*s  %-*s  %*s  %*s  %*s  %*s  %*s  %*s  %s\n", w[0],
               cells[i][0], w[1], cells[i][1], w[2], cells[i][2], w[3],
               cells[i][3], w[4], cells[i][4], w[5], cells[i][5], w[6],
               cells[i][6], w[7], cells[i][7], cells[i][8]);
    if (s->n == 0)
        printf("(no channels)\n");
    free(cells);
}

static struct termios g_saved_tio;
static int g_tio_saved;

static void tty_restore(void)
{
    if (g_tio_saved) {
        tcsetattr(0, TCSANOW, &g_saved_tio);
        g_tio_saved = 0;
    }
}

/* cbreak: keys arrive one by one, unechoed; Ctrl-C still signals. */
static void tty_cbreak(void)
{
    struct termios t;
    if (tcgetattr(0, &g_saved_tio) != 0)
        return;
    t = g_saved_tio;
    t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(0, TCSANOW, &t) == 0)
        g_tio_saved = 1;
}

/* Waits ms milliseconds; returns 1 when the user asked to quit. */
static int top_wait(unsigned ms, int keys)
{
    uint64_t end = cli_now_ns() + (uint64_t)ms * 1000000u;
    for (;;) {
        uint64_t now = cli_now_ns();
        struct pollfd pfd = {0, POLLIN, 0};
        int n;
        if (g_stop)
            return 1;
        if (now >= end)
            return 0;
        n = poll(&pfd, keys ? 1 : 0, (int)((end - now + 999999) / 1000000));
        if (n > 0 && keys) {
            char ch[16];
            ssize_t got = read(0, ch, sizeof ch);
            if (got == 0)
                keys = 0; /* EOF: nothing more to read */
            for (ssize_t i = 0; i < got; i++)
                if (ch[i] == 'q' || ch[i] == 'Q' || ch[i] == 3 || ch[i] == 4)
                    return 1;
            if (pfd.revents & (POLLHUP | POLLERR))
                keys = 0;
        }
    }
}

int cli_cmd_top(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"once", no_argument, NULL, '1'},
        {"json", no_argument, NULL, 'j'},
        {"interval", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct top_sample a = {NULL, 0, 0, 0}, b = {NULL, 0, 0, 0}, tmp;
    uint64_t interval_ms = 1000;
    int once = 0, json = 0, c, rc, ret = CLI_EXIT_OK, keys, clear;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":1ji:h", lopts, NULL)) != -1) {
        switch (c) {
        case '1': once = 1; break;
        case 'j': json = 1; break;
        case 'i':
            if ((rc = cli_parse_seconds(optarg, &interval_ms)) < 0 ||
                interval_ms < 50)
                return cli_usage_error("top", top_usage, NULL,
                                       "--interval '%s' %s", optarg,
                                       rc < 0 ? seconds_problem(rc)
                                              : "is shorter than 0.05 s");
            break;
        case 'h': top_help(); return CLI_EXIT_OK;
        default: return cli_bad_option("top", top_usage, argv, c);
        }
    }
    if (optind < argc)
        return cli_usage_error("top", top_usage, NULL,
                               "unexpected argument '%s'", argv[optind]);

    install_stop_handlers();
    keys = !once && isatty(0);
    clear = !once && !json && isatty(1);
    if (keys)
        tty_cbreak();

    if ((rc = top_sample(&a)) < 0) {
        ret = cli_lib_error(rc, "listing segments", NULL);
        goto out;
    }
    if (top_wait(200, keys))
        goto out;
    for (;;) {
        if ((rc = top_sample(&b)) < 0) {
            ret = cli_lib_error(rc, "listing segments", NULL);
            goto out;
        }
        top_rates(&b, &a);
        if (json) {
            top_json(&b);
        } else {
            if (clear)
                fputs("\033[H\033[2J", stdout);
            if (!once) {
                char when[64];
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                printf("shmkit top  %s  %zu channel%s  (every %.2g s; %s)\n",
                       cli_format_time_ns((uint64_t)ts.tv_sec * 1000000000u +
                                              (uint64_t)ts.tv_nsec,
                                          when, sizeof when),
                       b.n, b.n == 1 ? "" : "s", (double)interval_ms / 1000.0,
                       keys ? "q quits" : "Ctrl-C quits");
            }
            top_table(&b);
            if (!once && !clear)
                putchar('\n');
        }
        fflush(stdout);
        if (once || ferror(stdout))
            break;
        tmp = a;
        a = b;
        b = tmp;
        if (top_wait((unsigned)interval_ms, keys))
            break;
    }
out:
    tty_restore();
    free(a.rows);
    free(b.rows);
    return ret;
}
