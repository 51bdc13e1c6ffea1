/*
 * cli_helper - a tiny client of the public API, used by the CLI test scripts.
 *
 *   cli_helper write NAME TEXT   open NAME, copy TEXT to the start of its data
 *                                area, close
 *   cli_helper read NAME LEN     open NAME, write LEN bytes of its data area to
 *                                stdout, close
 *   cli_helper hold NAME SIZE    create NAME (owned, exclusive, SIZE data
 *                                bytes), print "ready PID", wait for SIGTERM or
 *                                SIGINT, then close it (the last closer of an
 *                                owned segment unlinks it) and exit 0
 *   cli_helper attach NAME       open NAME, print "ready PID", wait for SIGTERM
 *                                or SIGINT, close, exit 0
 *
 * Exit 0 on success, 1 on a library error (shmkit_last_error() on stderr),
 * 2 on bad usage.
 */
#include <shmkit.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int die(const char *what, int rc)
{
    fprintf(stderr, "cli_helper: %s failed: %s (%s)\n", what,
            shmkit_last_error(), shmkit_strerror(rc));
    return 1;
}

/* Prints "ready PID" and blocks until SIGTERM/SIGINT. */
static void wait_for_signal(void)
{
    sigset_t block, old;
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);
    printf("ready %ld\n", (long)getpid());
    fflush(stdout);
    while (!stop_flag)
        sigsuspend(&old);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

int main(int argc, char **argv)
{
    shmkit_segment_t *seg = NULL;
    int rc;

    if (argc == 4 && strcmp(argv[1], "write") == 0) {
        size_t n = strlen(argv[3]);
        if ((rc = shmkit_segment_open(argv[2], NULL, &seg)) < 0)
            return die("open", rc);
        if (n > shmkit_segment_data_size(seg)) {
            fprintf(stderr, "cli_helper: text longer than the data area\n");
            shmkit_segment_close(seg);
            return 1;
        }
        memcpy(shmkit_segment_data(seg), argv[3], n);
        if ((rc = shmkit_segment_close(seg)) < 0)
            return die("close", rc);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "read") == 0) {
        unsigned long long n = strtoull(argv[3], NULL, 0);
        if ((rc = shmkit_segment_open(argv[2], NULL, &seg)) < 0)
            return die("open", rc);
        if (n > shmkit_segment_data_size(seg)) {
            fprintf(stderr, "cli_helper: LEN beyond the data area\n");
            shmkit_segment_close(seg);
            return 1;
        }
        fwrite(shmkit_segment_data(seg), 1, (size_t)n, stdout);
        fflush(stdout);
        if ((rc = shmkit_segment_close(seg)) < 0)
            return die("close", rc);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "hold") == 0) {
        shmkit_segment_opts_t o;
        shmkit_segment_opts_init(&o);
        o.size = strtoull(argv[3], NULL, 0);
        o.exclusive = 1;
        o.persistent = 0;
        o.kind = SHMKIT_KIND_RAW;
        if ((rc = shmkit_segment_create(argv[2], &o, &seg)) < 0)
            return die("create", rc);
        wait_for_signal();
        if ((rc = shmkit_segment_close(seg)) < 0)
            return die("close", rc);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "attach") == 0) {
        if ((rc = shmkit_segment_open(argv[2], NULL, &seg)) < 0)
            return die("open", rc);
        wait_for_signal();
        if ((rc = shmkit_segment_close(seg)) < 0)
            return die("close", rc);
        return 0;
    }
    fprintf(stderr, "usage: cli_helper write NAME TEXT | read NAME LEN | "
                    "hold NAME SIZE | attach NAME\n");
    return 2;
}
