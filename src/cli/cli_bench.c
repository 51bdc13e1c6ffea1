/*
 * cli_bench.c - `shmkit bench`: runs the benchmark suite.
 *
 * The suite is its own program, shmkit-bench (bench/), because it links the
 * optional peers (iceoryx, ZeroMQ, Boost) that the CLI must not depend on.
 * This command finds it and execs it with the same arguments, so its table,
 * --json and --svg, and its exit status are the command's.  Where it looks,
 * in order:
 *   $SHMKIT_BENCH                         (an explicit path)
 *   DIR/shmkit-bench, DIR/bench/shmkit-bench   (DIR: where this shmkit is;
 *                                         the second is the build tree)
 *   DIR/SHMKIT_BENCH_RELDIR/shmkit-bench  (a relocated install: ../libexec/shmkit)
 *   SHMKIT_BENCH_PATH                     (${libexecdir}/shmkit/shmkit-bench)
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#ifndef SHMKIT_BENCH_PATH
#define SHMKIT_BENCH_PATH "/usr/local/libexec/shmkit/shmkit-bench"
#endif
#ifndef SHMKIT_BENCH_RELDIR
#define SHMKIT_BENCH_RELDIR "../libexec/shmkit"
#endif

int cli_cmd_bench(int argc, char **argv); /* also in cli.h */

static const char bench_usage[] =
    "shmkit bench [--quick] [--json FILE] [--svg FILE] [OPTIONS]";

static void bench_help(void)
{
    printf("usage: %s\n"
           "\n"
           "Runs the benchmark suite (the shmkit-bench program): round-trip latency\n"
           "and one-way throughput of shmkit's queue, bus and latest channels next to\n"
           "the machine's floors (one cache line bouncing between two CPUs, futex\n"
           "wait/wake, memcpy, a minimal SPSC ring), the kernel's pipe, UNIX socket\n"
           "and POSIX mq, and the peers that are installed (iceoryx, ZeroMQ,\n"
           "Boost.Interprocess).  Two processes pinned to two CPUs; every number is\n"
           "also shown as a ratio to a baseline measured right before it (the\n"
           "hypervisor of a VM moves vCPUs between points).  The full run takes\n"
           "about half an hour: run it on a quiet machine.\n"
           "\n"
           "options:\n"
           "  --quick            a few seconds: floors, shmkit queue 64 B, pipe\n"
           "  --json FILE        also write the results as JSON\n"
           "  --svg FILE         also draw them as an SVG plot\n"
           "  --rounds N         timed round trips per point (default 100000)\n"
           "  --big-rounds N     ... per 1 MiB point (default: as --rounds)\n"
           "  --seconds S        one-way throughput duration per point (default 2)\n"
           "  --repeat N         repeat each latency point, report medians\n"
           "  --cpus A,B         the two CPUs to pin to\n"
           "  --only PAT[,PAT]   only the points whose label contains PAT\n"
           "  --no-peers         skip iceoryx, ZeroMQ and Boost\n"
           "  'shmkit-bench --help' lists every option.\n"
           "\n"
           "environment:\n"
           "  SHMKIT_BENCH       path of the shmkit-bench program to run\n"
           "\n"
           "examples:\n"
           "  shmkit bench --quick\n"
           "  shmkit bench --json bench.json --svg bench.svg\n"
           "  shmkit bench --only rtt:shmkit:queue --rounds 200000 --repeat 3\n"
           "\n",
           bench_usage);
    fputs("exit status:\n"
          "  0 success, 1 a measurement failed to work (never a slow number),\n"
          "  2 bad usage\n",
          stdout);
}

static int usable(const char *p)
{
    return p && *p && access(p, X_OK) == 0;
}

/* Finds shmkit-bench; 0 with the path in out, or -1. */
static int find_bench(char *out, size_t len)
{
    const char *env = getenv("SHMKIT_BENCH");
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return usable(out) ? 0 : -1;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            static const char *const rel[] = {"shmkit-bench", "bench/shmkit-bench",
                                              SHMKIT_BENCH_RELDIR "/shmkit-bench"};
            for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
                snprintf(out, len, "%s/%s", self, rel[i]);
                if (usable(out))
                    return 0;
            }
        }
    }
    snprintf(out, len, "%s", SHMKIT_BENCH_PATH);
    return usable(out) ? 0 : -1;
}

int cli_cmd_bench(int argc, char **argv)
{
    char path[PATH_MAX + 64];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            bench_help();
            return CLI_EXIT_OK;
        }
    }
    if (find_bench(path, sizeof path) < 0) {
        const char *env = getenv("SHMKIT_BENCH");
        return cli_error(env && *env
                             ? "SHMKIT_BENCH must name the shmkit-bench program"
                             : "build it (cmake --build build --target shmkit-bench) "
                               "or install shmkit with its bench; SHMKIT_BENCH=PATH "
                               "names it explicitly",
                         "bench: cannot find the shmkit-bench program%s%s",
                         env && *env ? " at " : " (looked next to shmkit and at ",
                         env && *env ? env : SHMKIT_BENCH_PATH ")");
    }
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args)
        return cli_error(NULL, "bench: out of memory");
    args[0] = (char *)"shmkit-bench";
    for (int i = 1; i < argc; i++)
        args[i] = argv[i];
    args[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    execv(path, args);
    int e = errno;
    free(args);
    return cli_error(NULL, "bench: cannot run %s: %s", path, strerror(e));
}
