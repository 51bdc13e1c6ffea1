/*
 * cli_demo.c - `shmkit demo`: a telemetry feed on a lossy bus.
 *
 * The parent creates an owned bus with a unique name and starts three
 * subscribers, each of which re-executes this binary as the hidden
 * `shmkit demo-sub NAME INDEX [--slow]` and joins the bus by name, as an
 * unrelated program would.  Once all three have joined, the parent publishes
 * telemetry records (sequence number, CLOCK_MONOTONIC send time, a few fake
 * sensor values) at a fixed rate, and prints a status line every second
 * from the bus's own counters (shmkit_channel_stat: it joins nothing).
 *
 * The third subscriber dawdles on purpose (1 ms per message).  On a lossy
 * bus the writer never waits for it: it falls a whole ring behind, is
 * told how many messages it missed, and goes on with the newest ones,
 * while the other two see every message.
 *
 * At the end the parent closes the bus; the subscribers drain what is left,
 * get SHMKIT_E_CLOSED, and each writes one summary line (received, lost,
 * one-way latency percentiles measured as receive time - send time) to a
 * pipe the parent reads.  The bus is owned, so the last process to close it
 * removes it: nothing is left in /dev/shm.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define DEMO_SUBS 3
#define DEMO_CAPACITY (64u << 10) /* ~800 records: 40 ms at 20k msg/s */
#define DEMO_RATE 20000u
#define DEMO_MS 4000u
#define DEMO_JOIN_MS 5000u
#define DEMO_SLOW_US 1000u
#define SLICE_NS 100000000ll

/* One telemetry record, the payload of one message. */
struct demo_telemetry {
    uint64_t seq;
    uint64_t timestamp_ns; /* CLOCK_MONOTONIC when it was sent */
    double temperature_c;
    double pressure_hpa;
    double humidity_pct;
    double accel_g[3];
};
_Static_assert(sizeof(struct demo_telemetry) == 64, "telemetry layout");

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_hurry;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void on_hurry(int sig)
{
    (void)sig;
    g_hurry = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: sleeps end early */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* A closed stdout (`shmkit demo | head`) must not stop the cleanup. */
    signal(SIGPIPE, SIG_IGN);
}

static void sleep_us(unsigned us)
{
    struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
    nanosleep(&ts, NULL);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* 1234 -> "1234", 20000 -> "20.0k", 1.5e6 -> "1.50M". */
static char *fmt_rate(double v, char *buf, size_t len)
{
    if (v >= 1e6)
        snprintf(buf, len, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, len, "%.1fk", v / 1e3);
    else
        snprintf(buf, len, "%.0f", v);
    return buf;
}

/* 850 -> "850 ns", 12345 -> "12.3 us", 4.2e6 -> "4.2 ms". */
static char *fmt_ns(uint64_t ns, char *buf, size_t len)
{
    if (ns < 1000)
        snprintf(buf, len, "%llu ns", (unsigned long long)ns);
    else if (ns < 1000000)
        snprintf(buf, len, "%.1f us", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(buf, len, "%.1f ms", (double)ns / 1e6);
    else
        snprintf(buf, len, "%.2f s", (double)ns / 1e9);
    return buf;
}

/* ------------------------------------------------------------------------ */
/* demo-sub (hidden): one subscriber                                        */
/* ------------------------------------------------------------------------ */

int cli_cmd_demo_sub(int argc, char **argv)
{
    static const char usage[] = "shmkit demo-sub NAME INDEX [--slow]";
    shmkit_endpoint_opts_t eo;
    shmkit_reader_t *r;
    struct demo_telemetry m;
    uint64_t idx, received = 0, lost, bad = 0, last_seq = 0, t0, t1;
    uint64_t *lat = NULL, p50 = 0, p99 = 0, pmax = 0;
    size_t nlat = 0, caplat = 0;
    int slow = 0, rc, peer_gone = 0;
    struct sigaction sa;

    if (argc == 2 && (strcmp(argv[1], "-h") == 0 ||
                      strcmp(argv[1], "--help") == 0)) {
        fputs("usage: shmkit demo-sub NAME INDEX [--slow]\n\n"
              "A subscriber of 'shmkit demo' (which starts it): joins the\n"
              "bus NAME, reads telemetry until the bus is closed, and prints\n"
              "one summary line: SUB INDEX RECEIVED LOST SECONDS P50_NS "
              "P99_NS MAX_NS OUT_OF_ORDER.\n\n", stdout);
        fputs(CLI_HELP_EXIT_CODES, stdout);
        return CLI_EXIT_OK;
    }
    if (argc == 4 && strcmp(argv[3], "--slow") == 0)
        slow = 1;
    else if (argc != 3)
        return cli_usage_error("demo-sub", usage, NULL,
                               "needs NAME and INDEX (1-%d)", DEMO_SUBS);
    if (cli_parse_uint(argv[2], 1, DEMO_SUBS, &idx) < 0)
        return cli_usage_error("demo-sub", usage, NULL,
                               "INDEX must be a number from 1 to %d",
                               DEMO_SUBS);
    install_signals();
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_hurry; /* the publisher is done: stop dawdling */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);

    shmkit_endpoint_opts_init(&eo);
    eo.open_timeout_ms = 3000;
    shmkit_clear_error();
    rc = shmkit_reader_open(argv[1], &eo, &r);
    if (rc < 0)
        return cli_lib_error(rc, argv[1], NULL);

    t0 = cli_now_ns();
    while (!g_stop) {
        size_t len = 0;
        rc = shmkit_reader_recv(r, &m, sizeof m, &len, SLICE_NS);
        if (rc == 0) {
            uint64_t now = cli_now_ns();
            if (len != sizeof m) {
                bad++;
                continue;
            }
            if (received > 0 && m.seq <= last_seq)
                bad++;
            last_seq = m.seq;
            received++;
            if (nlat == caplat) {
                size_t nc = caplat ? caplat * 2 : 65536;
                uint64_t *nl = realloc(lat, nc * sizeof *nl);
                if (nl != NULL) {
                    lat = nl;
                    caplat = nc;
                }
            }
            if (nlat < caplat)
                lat[nlat++] = now > m.timestamp_ns ? now - m.timestamp_ns : 0;
            if (slow && !g_hurry)
                sleep_us(DEMO_SLOW_US);
            continue;
        }
        if (rc == -ETIMEDOUT || rc == SHMKIT_E_LOST || rc == SHMKIT_E_OVERRUN)
            continue; /* losses are counted by the reader */
        if (rc == SHMKIT_E_CLOSED)
            break;
        if (rc == SHMKIT_E_PEER_GONE) {
            peer_gone = 1;
            break;
        }
        cli_lib_error(rc, "demo-sub: reading", NULL);
        break;
    }
    t1 = cli_now_ns();
    lost = shmkit_reader_lost(r);
    shmkit_reader_close(r);

    if (nlat > 0) {
        qsort(lat, nlat, sizeof *lat, cmp_u64);
        p50 = lat[nlat / 2];
        p99 = lat[(size_t)((double)(nlat - 1) * 0.99)];
        pmax = lat[nlat - 1];
    }
    free(lat);
    printf("SUB %llu %llu %llu %.3f %llu %llu %llu %llu%s\n",
           (unsigned long long)idx, (unsigned long long)received,
           (unsigned long long)lost, (double)(t1 - t0) / 1e9,
           (unsigned long long)p50, (unsigned long long)p99,
           (unsigned long long)pmax, (unsigned long long)bad,
           peer_gone ? " PEER_GONE" : "");
    fflush(stdout);
    clearerr(stdout);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* demo: the publisher                                                      */
/* ------------------------------------------------------------------------ */

static const char demo_usage[] =
    "shmkit demo [--rate N] [--seconds S] [--name NAME]";

static void demo_help(void)
{
    fputs("usage: shmkit demo [--rate N] [--seconds S] [--name NAME]\n"
          "\n"
          "A live demo that takes about 5 seconds: a telemetry feed on a\n"
          "lossy bus.  It creates a bus, starts three subscriber processes\n"
          "that join it by name, and publishes telemetry records (sequence\n"
          "number, send time, fake sensor values) 20000 times a second for\n"
          "4 seconds, printing the bus's counters every second.  The third\n"
          "subscriber reads slowly on purpose: the publisher never waits for\n"
          "it, so it falls behind, loses messages and is told how many.  At\n"
          "the end each subscriber reports what it received and lost and the\n"
          "one-way latency it measured.  The bus is owned (not persistent),\n"
          "so the last process to close it removes it: nothing is left in\n"
          "/dev/shm.  Ctrl-C stops it early and still cleans up.\n"
          "\n"
          "options:\n"
          "  -r, --rate N       messages per second, 1 to 1000000 (default\n"
          "                     20000)\n"
          "  -s, --seconds S    how long to publish, 0.1 to 60 (default 4)\n"
          "  -n, --name NAME    bus name (default shmkit-demo-PID); it must not\n"
          "                     exist: the demo makes the bus and removes it\n"
          "  -h, --help         show this help\n"
          "\n"
          "examples:\n"
          "  shmkit demo\n"
          "  shmkit demo --rate 200000 --seconds 2\n"
          "\n", stdout);
    fputs(CLI_HELP_EXIT_CODES, stdout);
}

/* Fills a record with plausible sensor values at time t (seconds). */
static void fill_telemetry(struct demo_telemetry *m, uint64_t seq, double t)
{
    m->seq = seq;
    m->temperature_c = 21.5 + 3.0 * sin(t * 2.4);
    m->pressure_hpa = 1013.25 + 2.5 * cos(t * 1.3);
    m->humidity_pct = 45.0 + 10.0 * sin(t * 0.7);
    m->accel_g[0] = 0.02 * sin(t * 40.0);
    m->accel_g[1] = 0.02 * cos(t * 37.0);
    m->accel_g[2] = 1.0 + 0.01 * sin(t * 55.0);
    m->timestamp_ns = cli_now_ns(); /* last: the send time */
}

struct demo_sub {
    pid_t pid;
    int done;   /* its summary line arrived */
    uint64_t received, lost, bad, p50, p99, pmax;
    double secs;
    int peer_gone;
};

/* One status line from the bus's counters. */
static void print_status(const char *name, double el, uint64_t sent,
                         uint64_t *prev_sent, double *prev_el,
                         const struct demo_sub *subs)
{
    shmkit_channel_stat_t *st = calloc(1, sizeof *st);
    char rate[32], lag[16], lost[32];
    double dt = el - *prev_el;

    printf("%4.1f s  sent %6llu  %5s msg/s", el, (unsigned long long)sent,
           fmt_rate(dt > 0 ? (double)(sent - *prev_sent) / dt : 0.0, rate,
                    sizeof rate));
    *prev_sent = sent;
    *prev_el = el;
    if (st == NULL || shmkit_channel_stat(name, st) != 0) {
        printf(" (counters unreadable)\n");
        free(st);
        return;
    }
    for (int k = 0; k < DEMO_SUBS; k++) {
        const shmkit_reader_stat_t *rs = NULL;
        for (int i = 0; i < st->nreaders && i < SHMKIT_MAX_READERS; i++)
            if (st->readers[i].pid == subs[k].pid)
                rs = &st->readers[i];
        if (rs == NULL) {
            printf("  | sub%d gone", k + 1);
            continue;
        }
        printf("  | sub%d%s lag %4s lost %s", k + 1,
               k == DEMO_SUBS - 1 ? " (slow)" : "",
               cli_format_size(rs->lag, lag, sizeof lag),
               fmt_rate((double)rs->lost, lost, sizeof lost));
    }
    putchar('\n');
    free(st);
}

/* Reads the subscribers' summary lines until every one has reported or
 * the pipe closed (they all exited), for at most timeout_ms. */
static void read_summaries(int fd, struct demo_sub *subs, unsigned timeout_ms)
{
    char buf[4096];
    size_t have = 0;
    uint64_t end = cli_now_ns() + (uint64_t)timeout_ms * 1000000u;

    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        uint64_t now = cli_now_ns();
        int all = 1;
        ssize_t n;
        char *nl;

        for (int k = 0; k < DEMO_SUBS; k++)
            all &= subs[k].done;
        if (all || now >= end)
            return;
        if (poll(&pfd, 1, (int)((end - now) / 1000000u) + 1) <= 0)
            continue; /* a signal or the timeout: check again */
        n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return; /* EOF: every subscriber is gone */
        }
        have += (size_t)n;
        buf[have] = '\0';
        while ((nl = strchr(buf, '\n')) != NULL) {
            unsigned long long i, rcv, lst, p50, p99, pmax, bad;
            double secs;
            char tail[32] = "";
            *nl = '\0';
            if (sscanf(buf, "SUB %llu %llu %llu %lf %llu %llu %llu %llu %31s",
                       &i, &rcv, &lst, &secs, &p50, &p99, &pmax, &bad,
                       tail) >= 8 &&
                i >= 1 && i <= DEMO_SUBS) {
                struct demo_sub *s = &subs[i - 1];
                s->done = 1;
                s->received = rcv;
                s->lost = lst;
                s->secs = secs;
                s->p50 = p50;
                s->p99 = p99;
                s->pmax = pmax;
                s->bad = bad;
                s->peer_gone = strcmp(tail, "PEER_GONE") == 0;
            }
            have -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have + 1);
        }
        if (have >= sizeof buf - 1)
            have = 0; /* a line this long is not ours */
    }
}

/* Waits up to timeout_ms for the subscribers to exit, then kills the
 * rest.  Returns how many did not exit 0. */
static int reap_subs(struct demo_sub *subs, unsigned timeout_ms)
{
    uint64_t t0 = cli_now_ns();
    int bad = 0, left = 0;

    for (int i = 0; i < DEMO_SUBS; i++)
        left += subs[i].pid > 0;
    while (left > 0) {
        for (int i = 0; i < DEMO_SUBS; i++) {
            int st;
            pid_t r;
            if (subs[i].pid <= 0)
                continue;
            r = waitpid(subs[i].pid, &st, WNOHANG);
            if (r == subs[i].pid || (r < 0 && errno == ECHILD)) {
                if (r < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                    bad++;
                subs[i].pid = -subs[i].pid; /* reaped; keep it for lookups */
                left--;
            }
        }
        if (left == 0)
            break;
        if (cli_now_ns() - t0 > (uint64_t)timeout_ms * 1000000u) {
            for (int i = 0; i < DEMO_SUBS; i++)
                if (subs[i].pid > 0) {
                    kill(subs[i].pid, SIGKILL);
                    waitpid(subs[i].pid, NULL, 0);
                    subs[i].pid = -subs[i].pid;
                    bad++;
                }
            break;
        }
        cli_sleep_ms(5);
    }
    return bad;
}

/* Any subscriber that exited already (it failed to join, say)? */
static int sub_exited(struct demo_sub *subs)
{
    for (int i = 0; i < DEMO_SUBS; i++) {
        int st;
        if (subs[i].pid > 0 && waitpid(subs[i].pid, &st, WNOHANG) == subs[i].pid) {
            subs[i].pid = -subs[i].pid;
            return i + 1;
        }
    }
    return 0;
}

int cli_cmd_demo(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"rate", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 's'},
        {"name", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    shmkit_channel_opts_t co;
    shmkit_endpoint_opts_t eo;
    shmkit_writer_t *w = NULL;
    struct demo_sub subs[DEMO_SUBS];
    char defname[64], cname[300], idxs[16], r1[32], r2[32], l1[32];
    const char *name = NULL;
    uint64_t rate = DEMO_RATE, dur_ms = DEMO_MS, sent = 0, t0, el, prev_sent = 0;
    uint64_t next_status, elapsed_ns = 0;
    double prev_el = 0;
    int c, rc, exit_code = CLI_EXIT_OK, pfd[2] = {-1, -1}, failed, r;
    shmkit_backend_t backend;
    shmkit_segment_info_t *in;

    memset(subs, 0, sizeof subs);
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":r:s:n:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            if (cli_parse_uint(optarg, 1, 1000000, &rate) < 0)
                return cli_usage_error("demo", demo_usage, NULL,
                                       "--rate '%s' is not a number from 1 "
                                       "to 1000000", optarg);
            break;
        case 's':
            if (cli_parse_seconds(optarg, &dur_ms) < 0 || dur_ms < 100 ||
                dur_ms > 60000)
                return cli_usage_error("demo", demo_usage, NULL,
                                       "--seconds '%s' is not a duration "
                                       "from 0.1 to 60", optarg);
            break;
        case 'n': name = optarg; break;
        case 'h': demo_help(); return CLI_EXIT_OK;
        default: return cli_bad_option("demo", demo_usage, argv, c);
        }
    }
    if (optind < argc)
        return cli_usage_error("demo", demo_usage, NULL,
                               "unexpected argument '%s'", argv[optind]);
    if (name == NULL) {
        snprintf(defname, sizeof defname, "shmkit-demo-%ld", (long)getpid());
        name = defname;
    }
    backend = cli_name_backend(name);
    if (backend == SHMKIT_BACKEND_MEMFD || backend == SHMKIT_BACKEND_ANON ||
        strcmp(name, "sysv:private") == 0)
        return cli_usage_error("demo", demo_usage,
                               "the subscribers join the bus by name: use a "
                               "POSIX, sysv:KEY or file: name",
                               "--name '%s' cannot be opened by name", name);
    cli_safe_copy(cname, sizeof cname, name);

    install_signals();
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* The bus: lossy, owned (gone when its last user closes it). */
    shmkit_channel_opts_init(&co, SHMKIT_KIND_BUS);
    co.capacity = DEMO_CAPACITY;
    co.max_msg = sizeof(struct demo_telemetry);
    co.max_readers = 8;
    co.seg.persistent = 0;
    co.seg.exclusive = 1; /* ours alone: it is removed at the end */
    shmkit_endpoint_opts_init(&eo);
    eo.create = &co;
    eo.open_timeout_ms = 0;
    shmkit_clear_error();
    rc = shmkit_writer_open(name, &eo, &w);
    if (rc < 0)
        return cli_lib_error(rc, name, rc == SHMKIT_E_BUSY
                                           ? "pick another --name"
                                           : NULL);
    printf("shmkit demo: a telemetry feed on the lossy bus %s (%s, %u KiB "
           "ring, owned: the last process to close it removes it)\n",
           cname, shmkit_backend_name(backend), DEMO_CAPACITY >> 10);
    printf("one publisher (pid %ld) and %d subscriber processes; "
           "subscriber %d reads slowly on purpose\n", (long)getpid(),
           DEMO_SUBS, DEMO_SUBS);

    /* The subscribers: each re-executes this binary and joins by name.
     * Their stdout is a pipe that carries their summary lines to us.  The
     * binary is named by the path /proc/self/exe links to, and only then by
     * the link itself: under valgrind the link is valgrind's own program
     * (readlink() is answered for the client, execve() is not). */
    char self[4096];
    ssize_t selflen = readlink("/proc/self/exe", self, sizeof self - 1);
    self[selflen > 0 ? selflen : 0] = 0;
    if (pipe(pfd) != 0) {
        exit_code = cli_error(NULL, "demo: pipe: %s", strerror(errno));
        goto finish;
    }
    fflush(NULL);
    for (int i = 0; i < DEMO_SUBS; i++) {
        pid_t p;
        snprintf(idxs, sizeof idxs, "%d", i + 1);
        p = fork();
        if (p < 0) {
            exit_code = cli_error(NULL, "demo: fork: %s", strerror(errno));
            goto finish;
        }
        if (p == 0) {
            char *args[] = {(char *)"shmkit", (char *)"demo-sub",
                            (char *)name, idxs,
                            i == DEMO_SUBS - 1 ? (char *)"--slow" : NULL,
                            NULL};
            static const char msg[] =
                "shmkit: error: demo: cannot run /proc/self/exe\n";
            if (dup2(pfd[1], 1) < 0)
                _exit(127);
            close(pfd[0]);
            close(pfd[1]);
            if (self[0])
                execv(self, args);
            execv("/proc/self/exe", args);
            if (write(2, msg, sizeof msg - 1) < 0) {
                /* nothing more to do */
            }
            _exit(127);
        }
        subs[i].pid = p;
    }
    close(pfd[1]);
    pfd[1] = -1;

    /* Wait until every subscriber has joined: a bus reader sees only what
     * is sent after it joined. */
    t0 = cli_now_ns();
    while (shmkit_writer_readers(w) < DEMO_SUBS) {
        if (g_stop)
            goto finish;
        if ((r = sub_exited(subs)) != 0) {
            exit_code = cli_error(NULL, "demo: subscriber %d exited early", r);
            goto finish;
        }
        if (cli_now_ns() - t0 > DEMO_JOIN_MS * 1000000ull) {
            fprintf(stderr, "shmkit: error: demo: the subscribers did not "
                            "join within %u ms\n", DEMO_JOIN_MS);
            exit_code = CLI_EXIT_TIMEOUT;
            goto finish;
        }
        cli_sleep_ms(1);
    }
    printf("%d readers joined (pids %ld %ld %ld); publishing %s msg/s of %zu "
           "bytes for %.1f s:\n", DEMO_SUBS, (long)subs[0].pid,
           (long)subs[1].pid, (long)subs[2].pid,
           fmt_rate((double)rate, r1, sizeof r1),
           sizeof(struct demo_telemetry), (double)dur_ms / 1000.0);

    /* Publish on an absolute schedule, in small batches (a sleep per
     * message would cost more than the message). */
    t0 = cli_now_ns();
    next_status = t0 + 1000000000ull;
    for (;;) {
        uint64_t now = cli_now_ns(), due;
        el = now - t0;
        if (g_stop || el >= dur_ms * 1000000ull)
            break;
        due = (uint64_t)((double)el * (double)rate / 1e9) + 1;
        while (sent < due) {
            void *buf;
            rc = shmkit_writer_reserve(w, sizeof(struct demo_telemetry), &buf, 0);
            if (rc < 0) {
                exit_code = cli_lib_error(rc, "demo: publishing", NULL);
                goto finish;
            }
            fill_telemetry(buf, sent + 1, (double)el / 1e9);
            shmkit_writer_commit(w, sizeof(struct demo_telemetry));
            sent++;
        }
        if (now >= next_status) {
            print_status(name, (double)el / 1e9, sent, &prev_sent, &prev_el,
                         subs);
            next_status += 1000000000ull;
        }
        sleep_us(500);
    }
    elapsed_ns = cli_now_ns() - t0;
    print_status(name, (double)elapsed_ns / 1e9, sent, &prev_sent, &prev_el,
                 subs);

finish:
    /* Closing ends the stream: the subscribers drain it, then exit. */
    if (w != NULL) {
        shmkit_clear_error();
        rc = shmkit_writer_close(w);
        w = NULL;
        if (rc < 0 && exit_code == CLI_EXIT_OK)
            exit_code = cli_lib_error(rc, "demo: closing the bus", NULL);
    }
    if (subs[DEMO_SUBS - 1].pid > 0)
        kill(subs[DEMO_SUBS - 1].pid, SIGUSR1); /* stop dawdling */
    if (pfd[0] >= 0)
        read_summaries(pfd[0], subs, 3000);
    failed = reap_subs(subs, 2000);
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    if (failed && exit_code == CLI_EXIT_OK)
        exit_code = cli_error(NULL, "demo: %d subscriber%s failed", failed,
                              failed == 1 ? "" : "s");

    if (sent > 0 && exit_code == CLI_EXIT_OK) {
        double secs = elapsed_ns ? (double)elapsed_ns / 1e9 : 1.0;
        printf("\nsummary: %llu messages sent in %.2f s (%s msg/s, %sB/s)\n",
               (unsigned long long)sent, secs,
               fmt_rate((double)sent / secs, r1, sizeof r1),
               cli_format_size((uint64_t)((double)sent * 64.0 / secs), r2,
                               sizeof r2));
        printf("  subscriber   received      lost   rate (msg/s)   "
               "latency p50   p99        max\n");
        for (int k = 0; k < DEMO_SUBS; k++) {
            const struct demo_sub *s = &subs[k];
            char p50[32], p99[32], pmax[32];
            if (!s->done) {
                printf("  %d            (no report)\n", k + 1);
                continue;
            }
            printf("  %d%-10s %9llu %9llu   %12s   %-13s %-10s %s%s\n", k + 1,
                   k == DEMO_SUBS - 1 ? " (slow)" : "",
                   (unsigned long long)s->received,
                   (unsigned long long)s->lost,
                   fmt_rate(s->secs > 0 ? (double)s->received / s->secs : 0,
                            l1, sizeof l1),
                   s->received ? fmt_ns(s->p50, p50, sizeof p50) : "-",
                   s->received ? fmt_ns(s->p99, p99, sizeof p99) : "-",
                   s->received ? fmt_ns(s->pmax, pmax, sizeof pmax) : "-",
                   s->bad ? "  OUT OF ORDER" : "");
            if (s->bad && exit_code == CLI_EXIT_OK)
                exit_code = cli_error(NULL, "demo: subscriber %d saw %llu "
                                      "messages out of order", k + 1,
                                      (unsigned long long)s->bad);
        }
        printf("  every subscriber: received + lost = sent (%s); the slow one "
               "was lapped by the writer, which never waits on a lossy bus\n",
               (subs[0].received + subs[0].lost == sent &&
                subs[1].received + subs[1].lost == sent &&
                subs[2].received + subs[2].lost == sent)
                   ? "yes"
                   : "no: see above");
        printf("  latency = receive time - send time; it includes waking a "
               "reader that slept between bursts\n");
    }

    /* The last closer removed the bus: prove it. */
    in = calloc(1, sizeof *in);
    rc = in ? shmkit_segment_inspect(name, in) : -ENOMEM;
    free(in);
    if (rc == -ENOENT) {
        if (backend == SHMKIT_BACKEND_POSIX)
            printf("closed: /dev/shm/%s is gone (the last process to close "
                   "an owned channel removes it)\n",
                   cname[0] == '/' ? cname + 1 : cname);
        else
            printf("closed: %s is gone (the last process to close an owned "
                   "channel removes it)\n", cname);
    } else {
        shmkit_clear_error();
        if (shmkit_segment_unlink(name) == 0)
            fprintf(stderr, "shmkit: error: demo: %s was still there after "
                            "the last close; removed it\n", cname);
        else
            fprintf(stderr, "shmkit: error: demo: %s is still there after "
                            "the last close\n", cname);
        if (exit_code == CLI_EXIT_OK)
            exit_code = CLI_EXIT_ERROR;
    }
    if (g_stop) {
        fprintf(stderr, "shmkit: demo interrupted; cleaned up\n");
        if (exit_code == CLI_EXIT_OK)
            exit_code = CLI_EXIT_ERROR;
    }
    return exit_code;
}
