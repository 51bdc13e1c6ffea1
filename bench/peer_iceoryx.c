/*
 * peer_iceoryx.c - iceoryx 2.x through its C binding, used as its docs
 * recommend for the lowest latency: iox_pub_loan_chunk + write in place +
 * iox_pub_publish_chunk; busy-polling iox_sub_take_chunk, then
 * iox_sub_release_chunk.  "copy" copies the application's buffer into the
 * loan and out of the sample; "zero-copy" writes and reads in place.
 *
 * The bench starts its own RouDi (iox-roudi) by pid, with a mempool config
 * that has room for 256-deep subscriber queues of 64 KiB messages (the
 * default config's 200 chunks of 128 KiB run out), waits for "RouDi is
 * ready for clients" in its log, and stops it (SIGTERM, then SIGKILL)
 * when the peers are done or the bench is interrupted.  A RouDi that is
 * already running is left alone and iceoryx is skipped.
 *
 * Throughput uses the blocking policies (WAIT_FOR_CONSUMER with
 * BLOCK_PRODUCER), so nothing is dropped; round trips keep the defaults.
 * Each endpoint waits for its counterpart (iox_pub_has_subscribers,
 * SubscribeState_SUBSCRIBED) before the first message, and both sides
 * meet once more before deinit, so no sample is discarded in flight.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iceoryx_binding_c/enums.h"
#include "iceoryx_binding_c/log.h"
#include "iceoryx_binding_c/publisher.h"
#include "iceoryx_binding_c/runtime.h"
#include "iceoryx_binding_c/subscriber.h"
#include "iceoryx_binding_c/types.h"

#include "bench.h"

#ifndef IOX_ROUDI_PATH
#define IOX_ROUDI_PATH "iox-roudi"
#endif

static pid_t roudi_pid;
static int roudi_owned_shm; /* /dev/shm/iceoryx_mgmt was not there before us */
static char roudi_dir[64];
static int roudi_failed;
static char roudi_why[256];

static const char roudi_config[] =
    "[general]\n"
    "version = 1\n"
    "\n"
    "[[segment]]\n"
    "\n"
    "[[segment.mempool]]\n"
    "size = 256\n"
    "count = 4000\n"
    "\n"
    "[[segment.mempool]]\n"
    "size = 2048\n"
    "count = 2000\n"
    "\n"
    "[[segment.mempool]]\n"
    "size = 131072\n"
    "count = 600\n"
    "\n"
    "[[segment.mempool]]\n"
    "size = 1114112\n"
    "count = 100\n";

static void sleep_ms(int ms)
{
    struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

void iceoryx_stop_roudi(void)
{
    if (roudi_pid > 0) {
        kill(roudi_pid, SIGTERM);
        int st, i;
        for (i = 0; i < 100; i++) {
            pid_t r = waitpid(roudi_pid, &st, WNOHANG);
            if (r == roudi_pid || (r < 0 && errno == ECHILD))
                break;
            sleep_ms(50);
        }
        if (i == 100) {
            kill(roudi_pid, SIGKILL);
            waitpid(roudi_pid, &st, 0);
        }
        roudi_pid = 0;
    }
    if (roudi_owned_shm) {
        /* a RouDi that died (or aborted) leaves its segments behind */
        struct passwd *pw = getpwuid(geteuid());
        char p[300];
        unlink("/dev/shm/iceoryx_mgmt");
        if (pw) {
            snprintf(p, sizeof p, "/dev/shm/%s", pw->pw_name);
            unlink(p);
        }
        roudi_owned_shm = 0;
    }
    if (roudi_dir[0]) {
        char p[128];
        snprintf(p, sizeof p, "%s/roudi.toml", roudi_dir);
        unlink(p);
        snprintf(p, sizeof p, "%s/roudi.log", roudi_dir);
        if (!getenv("SHMKIT_BENCH_KEEP_ROUDI_LOG"))
            unlink(p);
        else
            printf("RouDi log kept: %s\n", p);
        if (!getenv("SHMKIT_BENCH_KEEP_ROUDI_LOG"))
            rmdir(roudi_dir);
        roudi_dir[0] = 0;
    }
}

static int log_has(const char *path, const char *what, char *last, size_t n)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int found = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, what))
            found = 1;
        if (last && line[0] && line[0] != '\n') {
            line[strcspn(line, "\n")] = 0;
            snprintf(last, n, "%s", line);
        }
    }
    fclose(f);
    return found;
}

static int roudi_start(char *why, size_t n)
{
    if (roudi_pid > 0)
        return 0;
    if (roudi_failed) {
        snprintf(why, n, "%s", roudi_why);
        return 1;
    }
    roudi_failed = 1;
    if (access(IOX_ROUDI_PATH, X_OK) < 0) {
        snprintf(roudi_why, sizeof roudi_why,
                 "%s not found; install iceoryx's RouDi daemon (Debian: "
                 "apt-get install iceoryx), then re-run cmake",
                 IOX_ROUDI_PATH);
        snprintf(why, n, "%s", roudi_why);
        return 1;
    }
    if (access("/dev/shm/iceoryx_mgmt", F_OK) == 0) {
        snprintf(roudi_why, sizeof roudi_why,
                 "a RouDi seems to be running already (/dev/shm/iceoryx_mgmt exists); "
                 "the bench starts and stops its own, so stop that one first");
        snprintf(why, n, "%s", roudi_why);
        return 1;
    }
    snprintf(roudi_dir, sizeof roudi_dir, "/tmp/skb-roudi-XXXXXX");
    if (!mkdtemp(roudi_dir)) {
        roudi_dir[0] = 0;
        snprintf(why, n, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    char conf[128], logp[128];
    snprintf(conf, sizeof conf, "%s/roudi.toml", roudi_dir);
    snprintf(logp, sizeof logp, "%s/roudi.log", roudi_dir);
    FILE *f = fopen(conf, "w");
    if (!f || fputs(roudi_config, f) < 0 || fclose(f) != 0) {
        snprintf(why, n, "%s: %s", conf, strerror(errno));
        return -1;
    }
    register_cleanup(iceoryx_stop_roudi);
    roudi_owned_shm = 1;
    fflush(stdout);
    pid_t c = fork();
    if (c < 0) {
        snprintf(why, n, "fork: %s", strerror(errno));
        return -1;
    }
    if (c == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        signal(SIGINT, SIG_IGN); /* the bench stops it */
        execl(IOX_ROUDI_PATH, "iox-roudi", "-c", conf, "-l", "info", (char *)NULL);
        _exit(127);
    }
    roudi_pid = c;
    char last[256] = "";
    for (int i = 0; i < 200; i++) {
        if (log_has(logp, "ready for clients", NULL, 0)) {
            roudi_failed = 0;
            return 0;
        }
        int st;
        if (waitpid(c, &st, WNOHANG) == c) {
            roudi_pid = 0;
            log_has(logp, "", last, sizeof last);
            snprintf(roudi_why, sizeof roudi_why, "iox-roudi exited at start: %s",
                     last[0] ? last : "(no output)");
            snprintf(why, n, "%s", roudi_why);
            iceoryx_stop_roudi();
            return 1;
        }
        sleep_ms(50);
    }
    log_has(logp, "", last, sizeof last);
    snprintf(roudi_why, sizeof roudi_why, "iox-roudi not ready after 10 s: %s", last);
    snprintf(why, n, "%s", roudi_why);
    iceoryx_stop_roudi();
    return 1;
}

/* ---- the mechanism ----------------------------------------------------------- */

struct iep {
    iox_pub_storage_t pub_st;
    iox_sub_storage_t sub_st;
    iox_pub_t pub;
    iox_sub_t sub;
    int tput;
};

static int i_setup(point_t *p, char *why, size_t n)
{
    if (p->size > 1114112 - 4096) {
        snprintf(why, n, "messages above 1 MiB do not fit the bench's mempools");
        return 1;
    }
    int r = roudi_start(why, n);
    if (r)
        return r;
    snprintf(p->name[0], sizeof p->name[0], "%d-%d", (int)getpid(), p->id);
    return 0;
}

static int wait_until(int (*cond)(struct iep *), struct iep *e, const char *what)
{
    for (int i = 0; i < 10000; i++) {
        if (cond(e))
            return 0;
        sleep_ms(1);
    }
    child_fail("iceoryx: %s never happened in 10 s", what);
    return -1;
}

static int subscribed(struct iep *e)
{
    return iox_sub_get_subscription_state(e->sub) == SubscribeState_SUBSCRIBED;
}

static int has_subs(struct iep *e)
{
    return iox_pub_has_subscribers(e->pub);
}

static int i_open(point_t *p, int side, void **out)
{
    struct iep *e = calloc(1, sizeof *e);
    char rt[64];
    if (!e)
        return -1;
    e->tput = p->tput;
    snprintf(rt, sizeof rt, "skb-%s-%c", p->name[0], side ? 'b' : 'a');
    iox_set_loglevel(Iceoryx_LogLevel_Warn);
    iox_runtime_init(rt);
    /* event "ab" flows A -> B, "ba" B -> A */
    int pub_ev = side == 0 ? 0 : 1;
    int want_pub = !p->tput || side == 0, want_sub = !p->tput || side == 1;
    if (want_pub) {
        iox_pub_options_t o;
        iox_pub_options_init(&o);
        o.historyCapacity = 0;
        if (p->tput)
            o.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
        e->pub = iox_pub_init(&e->pub_st, "skb", p->name[0], pub_ev ? "ba" : "ab", &o);
    }
    if (want_sub) {
        iox_sub_options_t o;
        iox_sub_options_init(&o);
        o.historyRequest = 0;
        o.queueCapacity = p->tput ? (p->size >= (1u << 20) ? 32 : 256) : 16;
        if (p->tput)
            o.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
        e->sub = iox_sub_init(&e->sub_st, "skb", p->name[0], pub_ev ? "ab" : "ba", &o);
    }
    if ((e->sub && wait_until(subscribed, e, "the subscription")) ||
        (e->pub && wait_until(has_subs, e, "a subscriber")))
        return -1;
    *out = e;
    return 0;
}

static int i_send(void *ep, const void *buf, size_t len, int pay, uint64_t seq)
{
    struct iep *e = ep;
    void *d = NULL;
    for (long tries = 0;; tries++) {
        enum iox_AllocationResult r = iox_pub_loan_chunk(e->pub, &d, (uint32_t)len);
        if (r == AllocationResult_SUCCESS)
            break;
        if (r != AllocationResult_RUNNING_OUT_OF_CHUNKS || tries > 100000000) {
            child_fail("iox_pub_loan_chunk(%zu bytes) failed: %d", len, (int)r);
            return -1;
        }
        cpu_pause();
    }
    if (pay == PAY_COPY)
        memcpy(d, buf, len);
    else
        pay_fill(d, len, pay, seq);
    iox_pub_publish_chunk(e->pub, d);
    return 0;
}

static int i_recv(void *ep, void *buf, size_t len, int pay, uint64_t *seq)
{
    struct iep *e = ep;
    const void *d = NULL;
    for (;;) {
        enum iox_ChunkReceiveResult r = iox_sub_take_chunk(e->sub, &d);
        if (r == ChunkReceiveResult_SUCCESS)
            break;
        if (r != ChunkReceiveResult_NO_CHUNK_AVAILABLE) {
            child_fail("iox_sub_take_chunk failed: %d", (int)r);
            return -1;
        }
        cpu_pause();
    }
    if (pay == PAY_COPY) {
        memcpy(buf, d, len);
        *seq = load64(buf);
    } else {
        *seq = pay_touch(d, len, pay);
    }
    iox_sub_release_chunk(e->sub, d);
    return 0;
}

static void i_close(void *ep, int side)
{
    (void)side;
    struct iep *e = ep;
    /* both sides are done before either one tears down */
    atomic_fetch_add(&ctl->stop, 1);
    for (int i = 0; i < 10000 && atomic_load(&ctl->stop) < 2; i++)
        sleep_ms(1);
    if (e->sub)
        iox_sub_deinit(e->sub);
    if (e->pub)
        iox_pub_deinit(e->pub);
    /* No iox_runtime_shutdown(): the runtime's destructor (the child leaves
     * with exit()) deregisters in order.  With both, one child in three or
     * four hung at exit in a throughput point (iceoryx 2.0.3): RouDi had
     * already removed it when the shutdown's request arrived, never
     * answered, and the point timed out after 61 s.  Nothing is blocked
     * here that shutdown() would have to unblock: both sides are done. */
    free(e);
}

/* Each runtime leaves its UNIX socket and lock file in /tmp. */
static void i_teardown(point_t *p)
{
    for (int s = 0; s < 2; s++) {
        char path[160];
        snprintf(path, sizeof path, "/tmp/skb-%s-%c", p->name[0], s ? 'b' : 'a');
        unlink(path);
        snprintf(path, sizeof path, "/tmp/skb-%s-%c.lock", p->name[0], s ? 'b' : 'a');
        unlink(path);
    }
}

const mech_t mech_iceoryx = {"peer", "iceoryx", MECH_ZC | MECH_EXIT, 0, 0, i_setup, i_open,
                             i_send, i_recv, i_close, i_teardown};
