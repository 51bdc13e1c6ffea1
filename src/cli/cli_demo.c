/*
 * cli_demo.c - `shmkit demo`: one segment shared by several processes.
 *
 * The parent creates an owned segment and forks N readers, each of which
 * re-executes this binary as the hidden `shmkit demo-reader NAME INDEX` and
 * opens the segment by name, as an unrelated program would.  The parent
 * writes "telemetry" into the data area a thousand times a second for a few
 * seconds; the readers sample it in place, without copying it through the
 * kernel.  At the end everybody closes, and because the segment is owned
 * (not persistent) the last one to close removes it.
 *
 * The telemetry is guarded by a seqlock (one writer, many readers), written
 * with C11 atomics as in Boehm, "Can seqlocks get along with programming
 * language memory models?" (MSPC 2012):
 *
 *   writer                                  reader
 *   seq = s+1            (relaxed)          s1 = seq             (acquire)
 *   fence(release)                          payload loads        (relaxed)
 *   payload stores       (relaxed)          fence(acquire)
 *   seq = s+2            (release)  ----->  s2 = seq             (relaxed)
 *                                           ok if s1 == s2 and s1 is even
 *
 * The payload fields are atomics too, so a torn read is a retry, never a
 * data race.  Fields written by the readers sit on their own cache line.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");

#define DEMO_MAGIC 0x4f4d45444b4d4853ULL /* "SHMKDEMO" little-endian */
#define DEMO_MAX_READERS 16
#define DEMO_WRITE_MS 3000     /* how long the writer writes              */
#define DEMO_ATTACH_MS 3000    /* how long readers may take to attach     */
#define DEMO_READER_EVERY_MS 650

/* Lives at the start of the data area. */
struct demo_shared {
    /* line 0: written by the writer only */
    _Atomic uint64_t magic;      /* DEMO_MAGIC once initialised (release) */
    _Atomic uint64_t seq;        /* seqlock: odd while a write is going on */
    _Atomic uint64_t sample;     /* payload ...                             */
    _Atomic int64_t temp_mc;     /* milli-degrees Celsius                   */
    _Atomic int64_t pressure_pa;
    _Atomic uint64_t written_ns; /* CLOCK_MONOTONIC of the write            */
    _Atomic uint32_t started;    /* 1: readers may start printing           */
    _Atomic uint32_t done;       /* 1: the writer has finished              */
    uint64_t pad0;
    /* line 1: written by the readers */
    _Atomic uint32_t attached;   /* readers that opened the segment         */
    uint32_t pad1[15];
};
_Static_assert(sizeof(struct demo_shared) == 128, "demo layout");
_Static_assert(offsetof(struct demo_shared, attached) == 64, "demo layout");

struct demo_sample {
    uint64_t seq, sample, written_ns;
    int64_t temp_mc, pressure_pa;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
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

static void demo_write(struct demo_shared *s, uint64_t n, double t_s)
{
    uint64_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
    /* Orders the odd seq before the payload stores; pairs with the
     * reader's acquire fence before its re-check of seq. */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&s->sample, n, memory_order_relaxed);
    atomic_store_explicit(&s->temp_mc,
                          (int64_t)lround(21500.0 + 3000.0 * sin(t_s * 2.4)),
                          memory_order_relaxed);
    atomic_store_explicit(&s->pressure_pa,
                          (int64_t)lround(101325.0 + 250.0 * cos(t_s * 1.3)),
                          memory_order_relaxed);
    atomic_store_explicit(&s->written_ns, cli_now_ns(), memory_order_relaxed);
    /* Publishes the payload; pairs with the reader's acquire load of seq. */
    atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

/* Returns the number of retries (torn reads), or -1 if it never got a
 * consistent copy. */
static int demo_read(struct demo_shared *s, struct demo_sample *out)
{
    for (int tries = 0; tries < 100000; tries++) {
        /* Pairs with the writer's release store of the even seq. */
        uint64_t s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
        uint64_t s2;
        if (s1 & 1)
            continue;
        out->sample = atomic_load_explicit(&s->sample, memory_order_relaxed);
        out->temp_mc = atomic_load_explicit(&s->temp_mc, memory_order_relaxed);
        out->pressure_pa =
            atomic_load_explicit(&s->pressure_pa, memory_order_relaxed);
        out->written_ns =
            atomic_load_explicit(&s->written_ns, memory_order_relaxed);
        /* Keeps the payload loads before the re-check; pairs with the
         * writer's release fence after its odd seq store. */
        atomic_thread_fence(memory_order_acquire);
        s2 = atomic_load_explicit(&s->seq, memory_order_relaxed);
        if (s1 == s2) {
            out->seq = s1;
            return tries;
        }
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* demo-reader (hidden): the child side                                     */
/* ------------------------------------------------------------------------ */

int cli_cmd_demo_reader(int argc, char **argv)
{
    static const char usage[] = "shmkit demo-reader NAME INDEX";
    shmkit_segment_opts_t o;
    shmkit_segment_t *seg;
    struct demo_shared *s;
    uint64_t idx, t0;
    pid_t parent = getppid();
    int rc;

    if (argc == 2 && (strcmp(argv[1], "-h") == 0 ||
                      strcmp(argv[1], "--help") == 0)) {
        fputs("usage: shmkit demo-reader NAME INDEX\n\n"
              "The reader side of 'shmkit demo' (which starts it): opens the\n"
              "demo segment NAME and prints what it sees.\n\n", stdout);
        fputs(CLI_HELP_EXIT_CODES, stdout);
        return CLI_EXIT_OK;
    }
    if (argc != 3 || cli_parse_uint(argv[2], 1, DEMO_MAX_READERS, &idx) < 0)
        return cli_usage_error("demo-reader", usage, NULL,
                               "needs NAME and INDEX (1-%d)",
                               DEMO_MAX_READERS);
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines interleave with the others */
    install_signals();

    shmkit_segment_opts_init(&o);
    o.kind = SHMKIT_KIND_RAW;
    shmkit_clear_error();
    rc = shmkit_segment_open(argv[1], &o, &seg);
    if (rc < 0)
        return cli_lib_error(rc, argv[1], NULL);
    s = shmkit_segment_data(seg);
    /* Pairs with the writer's release store of magic after it set up. */
    if (shmkit_segment_data_size(seg) < sizeof *s ||
        atomic_load_explicit(&s->magic, memory_order_acquire) != DEMO_MAGIC) {
        shmkit_segment_close(seg);
        return cli_error("it is started by 'shmkit demo'",
                         "%s is not a shmkit demo segment", argv[1]);
    }
    atomic_fetch_add_explicit(&s->attached, 1, memory_order_release);

    /* Wait for the writer to say go; it prints `ls` first. */
    t0 = cli_now_ns();
    while (!g_stop &&
           !atomic_load_explicit(&s->started, memory_order_acquire) &&
           !atomic_load_explicit(&s->done, memory_order_acquire) &&
           getppid() == parent && cli_now_ns() - t0 < 10000000000ull)
        cli_sleep_ms(5);
    /* Stagger the readers so their lines take turns. */
    cli_sleep_ms((unsigned)(150 + 60 * (idx - 1)));

    while (!g_stop && getppid() == parent &&
           cli_now_ns() - t0 < 20000000000ull) {
        struct demo_sample v;
        int retries;
        if (atomic_load_explicit(&s->done, memory_order_acquire))
            break;
        retries = demo_read(s, &v);
        if (retries < 0) {
            printf("reader %llu (pid %ld): the writer is always mid-write\n",
                   (unsigned long long)idx, (long)getpid());
        } else {
            uint64_t now = cli_now_ns();
            double age_us = now > v.written_ns
                                ? (double)(now - v.written_ns) / 1000.0 : 0.0;
            printf("reader %llu (pid %ld): seq=%llu sample=%llu "
                   "temperature=%.2f C pressure=%lld Pa age=%.0f us%s\n",
                   (unsigned long long)idx, (long)getpid(),
                   (unsigned long long)v.seq,
                   (unsigned long long)v.sample, (double)v.temp_mc / 1000.0,
                   (long long)v.pressure_pa, age_us,
                   retries ? " (retried a torn read)" : "");
        }
        cli_sleep_ms(DEMO_READER_EVERY_MS);
    }
    rc = shmkit_segment_close(seg);
    if (rc < 0)
        return cli_lib_error(rc, "closing the demo segment", NULL);
    /* A closed stdout (`shmkit demo | head`) is not the reader's failure. */
    clearerr(stdout);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* demo: the parent side                                                    */
/* ------------------------------------------------------------------------ */

static const char demo_usage[] = "shmkit demo [--readers N] [--name NAME]";

static void demo_help(void)
{
    fputs("usage: shmkit demo [--readers N] [--name NAME]\n"
          "\n"
          "A live demo that takes about 3 seconds.  It creates a segment,\n"
          "starts N reader processes that open it by name, and writes\n"
          "telemetry into it a thousand times a second; each reader prints\n"
          "what it sees in place, with no copy through the kernel.  It shows\n"
          "the segment as 'shmkit ls' does, with every process attached.  At\n"
          "the end everybody closes, and since the segment is owned (not\n"
          "persistent), the last one to close removes it: nothing is left in\n"
          "/dev/shm.  Ctrl-C stops it early and still cleans up.\n"
          "\n"
          "options:\n"
          "  -r, --readers N   reader processes, 1 to 16 (default 3)\n"
          "  -n, --name NAME   segment name (default shmkit-demo-PID); a\n"
          "                    sysv: or file: name shows those backends\n"
          "  -h, --help        show this help\n"
          "\n"
          "examples:\n"
          "  shmkit demo\n"
          "  shmkit demo --readers 5 --name sysv:0x5eed\n"
          "\n", stdout);
    fputs(CLI_HELP_EXIT_CODES, stdout);
}

/* Waits up to timeout_ms for the readers, then kills the rest.  Returns the
 * number that did not exit 0. */
static int reap_readers(pid_t *pids, int n, unsigned timeout_ms)
{
    uint64_t t0 = cli_now_ns();
    int bad = 0, left = 0;

    for (int i = 0; i < n; i++)
        left += pids[i] > 0;
    while (left > 0) {
        for (int i = 0; i < n; i++) {
            int st;
            pid_t r;
            if (pids[i] <= 0)
                continue;
            r = waitpid(pids[i], &st, WNOHANG);
            if (r == pids[i] || (r < 0 && errno == ECHILD)) {
                if (r < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                    bad++;
                pids[i] = 0;
                left--;
            }
        }
        if (left == 0)
            break;
        if (cli_now_ns() - t0 > (uint64_t)timeout_ms * 1000000u) {
            for (int i = 0; i < n; i++)
                if (pids[i] > 0) {
                    kill(pids[i], SIGKILL);
                    waitpid(pids[i], NULL, 0);
                    pids[i] = 0;
                    bad++;
                }
            break;
        }
        cli_sleep_ms(10);
    }
    return bad;
}

/* Any reader that exited already (it failed to open, say)?  Reaps it. */
static int reader_exited(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        int st;
        if (pids[i] > 0 && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
            pids[i] = 0;
            return i + 1;
        }
    }
    return 0;
}

static void show_attached(shmkit_segment_t *seg)
{
    shmkit_segment_info_t in;
    if (shmkit_segment_stat(seg, &in) == 0)
        cli_segment_table(stdout, &in, 1);
    else
        printf("(shmkit_segment_stat failed: %s)\n", shmkit_last_error());
}

int cli_cmd_demo(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"readers", required_argument, NULL, 'r'},
        {"name", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    shmkit_segment_opts_t o;
    shmkit_segment_t *seg = NULL;
    struct demo_shared *s;
    pid_t pids[DEMO_MAX_READERS] = {0};
    char defname[64], cname[256], idxs[16];
    const char *name = NULL;
    shmkit_backend_t backend;
    uint64_t nreaders = 3, t0, n = 0;
    int c, rc, exit_code = CLI_EXIT_OK, failed, r;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":r:n:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            if (cli_parse_uint(optarg, 1, DEMO_MAX_READERS, &nreaders) < 0)
                return cli_usage_error("demo", demo_usage, NULL,
                                       "--readers '%s' is not a number from "
                                       "1 to %d", optarg, DEMO_MAX_READERS);
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
    if (backend == SHMKIT_BACKEND_MEMFD || backend == SHMKIT_BACKEND_ANON)
        return cli_usage_error("demo", demo_usage,
                               "the readers open the segment by name: use a "
                               "POSIX, sysv: or file: name",
                               "--name '%s' cannot be opened by name", name);

    install_signals();
    setvbuf(stdout, NULL, _IOLBF, 0);

    shmkit_segment_opts_init(&o);
    o.size = sizeof(struct demo_shared);
    o.exclusive = 1;
    o.persistent = 0; /* owned: the last process to close it removes it */
    o.kind = SHMKIT_KIND_RAW;
    shmkit_clear_error();
    rc = shmkit_segment_create(name, &o, &seg);
    if (rc < 0)
        return cli_lib_error(rc, name,
                             rc == -EEXIST ? "pick another --name, or remove "
                                             "the old one: 'shmkit gc' if it "
                                             "is stale, else 'shmkit rm NAME'"
                                           : NULL);
    snprintf(cname, sizeof cname, "%s", shmkit_segment_name(seg));
    s = shmkit_segment_data(seg);
    if (shmkit_segment_data_size(seg) < sizeof *s) {
        shmkit_segment_close(seg);
        return cli_error(NULL, "%s: data area is smaller than asked", cname);
    }
    demo_write(s, 0, 0.0);
    /* Readers check magic first (acquire) and then trust the rest. */
    atomic_store_explicit(&s->magic, DEMO_MAGIC, memory_order_release);

    printf("shmkit demo: 1 writer and %llu reader processes share one "
           "segment\n", (unsigned long long)nreaders);
    printf("created %s (%s, %llu bytes of data, mode 0600, owned: the last "
           "process to close it removes it)\n", cname,
           shmkit_backend_name(backend),
           (unsigned long long)shmkit_segment_data_size(seg));

    /* Start the readers: each re-executes this binary, which opens the
     * segment by name like any other program would. */
    fflush(NULL);
    for (uint64_t i = 0; i < nreaders; i++) {
        pid_t p;
        snprintf(idxs, sizeof idxs, "%llu", (unsigned long long)(i + 1));
        p = fork();
        if (p < 0) {
            exit_code = cli_error(NULL, "fork: %s", strerror(errno));
            goto finish;
        }
        if (p == 0) {
            char *args[] = {(char *)"shmkit", (char *)"demo-reader", cname,
                            idxs, NULL};
            static const char msg[] =
                "shmkit: error: demo: cannot run /proc/self/exe\n";
            execv("/proc/self/exe", args);
            if (write(2, msg, sizeof msg - 1) < 0) {
                /* nothing more to do */
            }
            _exit(127);
        }
        pids[i] = p;
    }

    /* Wait until every reader has attached. */
    t0 = cli_now_ns();
    while (atomic_load_explicit(&s->attached, memory_order_acquire) <
           nreaders) {
        if (g_stop)
            goto finish;
        if ((r = reader_exited(pids, (int)nreaders)) != 0) {
            exit_code = cli_error(NULL, "demo: reader %d exited early", r);
            goto finish;
        }
        if (cli_now_ns() - t0 > DEMO_ATTACH_MS * 1000000ull) {
            fprintf(stderr, "shmkit: error: demo: the readers did not attach "
                            "within %d ms\n", DEMO_ATTACH_MS);
            exit_code = CLI_EXIT_TIMEOUT;
            goto finish;
        }
        cli_sleep_ms(2);
    }
    printf("all readers attached; 'shmkit ls' would show:\n");
    show_attached(seg);
    printf("writing telemetry 1000 times a second for %.1f s; readers sample "
           "it in place:\n", DEMO_WRITE_MS / 1000.0);
    /* Pairs with the readers' acquire load of started. */
    atomic_store_explicit(&s->started, 1, memory_order_release);

    t0 = cli_now_ns();
    while (!g_stop) {
        uint64_t el = cli_now_ns() - t0, next;
        struct timespec ts;
        if (el >= DEMO_WRITE_MS * 1000000ull)
            break;
        demo_write(s, ++n, (double)el / 1e9);
        /* one write per millisecond, on an absolute schedule */
        next = t0 + n * 1000000ull;
        ts.tv_sec = (time_t)(next / 1000000000ull);
        ts.tv_nsec = (long)(next % 1000000000ull);
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
    printf("writer: done after %llu updates\n", (unsigned long long)n);

finish:
    /* Pairs with the readers' acquire load of done. */
    atomic_store_explicit(&s->done, 1, memory_order_release);
    failed = reap_readers(pids, (int)nreaders, 2000);
    if (failed && exit_code == CLI_EXIT_OK)
        exit_code = cli_error(NULL, "demo: %d reader%s failed", failed,
                              failed == 1 ? "" : "s");
    if (!g_stop && exit_code == CLI_EXIT_OK) {
        printf("readers closed and exited; now only the writer is "
               "attached:\n");
        show_attached(seg);
    }
    shmkit_clear_error();
    rc = shmkit_segment_close(seg);
    if (rc < 0 && exit_code == CLI_EXIT_OK)
        exit_code = cli_lib_error(rc, "closing the demo segment", NULL);

    /* The last closer removed it: prove it. */
    {
        shmkit_segment_info_t in;
        rc = shmkit_segment_inspect(cname, &in);
        if (rc == -ENOENT) {
            if (backend == SHMKIT_BACKEND_POSIX)
                printf("closed: /dev/shm%s%s is gone (the last process to "
                       "close an owned segment removes it)\n",
                       cname[0] == '/' ? "" : "/", cname);
            else
                printf("closed: %s is gone (the last process to close an "
                       "owned segment removes it)\n", cname);
        } else {
            shmkit_clear_error();
            if (shmkit_segment_unlink(cname) == 0)
                fprintf(stderr, "shmkit: error: demo: %s was still there "
                                "after the last close; removed it\n", cname);
            else
                fprintf(stderr, "shmkit: error: demo: %s is still there "
                                "after the last close\n", cname);
            if (exit_code == CLI_EXIT_OK)
                exit_code = CLI_EXIT_ERROR;
        }
    }
    if (g_stop) {
        fprintf(stderr, "shmkit: demo interrupted; cleaned up\n");
        if (exit_code == CLI_EXIT_OK)
            exit_code = CLI_EXIT_ERROR;
    }
    return exit_code;
}
