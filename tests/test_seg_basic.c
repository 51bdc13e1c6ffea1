/*
 * test_seg_basic - create/open/close/unlink on every backend: sizes, the
 * data area, the header's kind, canonical names, default mode 0600,
 * O_CLOEXEC fds, exclusive create, ENOENT with a useful message, owned
 * segments vanishing with their last user and persistent ones staying.
 */
#include "test_util.h"

#define REQ 10000u

static void opts_size(shmkit_segment_opts_t *o, uint64_t size)
{
    shmkit_segment_opts_init(o);
    o->size = size;
}

/* Checks that hold for any freshly created or opened raw segment. */
static void check_seg(shmkit_segment_t *s, uint64_t req, shmkit_backend_t b)
{
    CHECK(s != NULL);
    uint8_t *d = shmkit_segment_data(s);
    uint64_t n = shmkit_segment_data_size(s);
    CHECK(d != NULL);
    CHECKF(n >= req, "data size %llu < requested %llu", (unsigned long long)n,
           (unsigned long long)req);
    CHECKF(((uintptr_t)d & 4095u) == 0, "data %p not page aligned", (void *)d);
    skt_fill(d, n, 0x1234 + n);
    CHECK(skt_verify(d, n, 0x1234 + n) == -1);
    CHECK(shmkit_segment_kind(s) == SHMKIT_KIND_RAW);
    const char *nm = shmkit_segment_name(s);
    CHECK(nm != NULL && nm[0] != 0);

    shmkit_segment_info_t info;
    memset(&info, 0xa5, sizeof info);
    CHECK_OK(shmkit_segment_stat(s, &info));
    CHECK(info.backend == b);
    CHECK(info.is_shmkit == 1);
    CHECK(info.check == 0);
    CHECK(info.kind == SHMKIT_KIND_RAW);
    CHECK(info.data_size == n);
    CHECK(strcmp(info.name, nm) == 0);

    int fd = shmkit_segment_fd(s);
    if (b == SHMKIT_BACKEND_SYSV || b == SHMKIT_BACKEND_ANON) {
        CHECK(fd == -1);
    } else {
        CHECK(fd >= 0);
        int fl = fcntl(fd, F_GETFD);
        CHECKF(fl >= 0 && (fl & FD_CLOEXEC), "fd %d of %s is not O_CLOEXEC",
               fd, nm);
    }
}

/* The attach table of info lists pid as alive. */
static int lists_alive(const shmkit_segment_info_t *info, pid_t pid)
{
    for (int i = 0; i < info->nattached_listed && i < SHMKIT_MAX_ATTACH; i++)
        if (info->attached[i].pid == pid && info->attached[i].alive == 1)
            return 1;
    return 0;
}

static void check_missing(const char *name, const char *must_mention)
{
    shmkit_segment_t *s = NULL;
    shmkit_segment_opts_t o;
    opts_size(&o, 0);
    o.timeout_ms = 50;
    shmkit_clear_error();
    CHECK_RC(shmkit_segment_open(name, &o, &s), -ENOENT);
    const char *e = shmkit_last_error();
    CHECK(e != NULL && e[0] != 0);
    CHECKF(skt_contains(e, must_mention), "error \"%s\" does not mention \"%s\"",
           e, must_mention);
    shmkit_segment_info_t info;
    CHECK_RC(shmkit_segment_inspect(name, &info), -ENOENT);
}

/* Two handles on the same object see each other's writes. */
static void check_shared(shmkit_segment_t *a, shmkit_segment_t *b, uint64_t seed)
{
    uint64_t n = shmkit_segment_data_size(a);
    CHECK(shmkit_segment_data_size(b) == n);
    CHECK(shmkit_segment_data(a) != shmkit_segment_data(b));
    skt_fill(shmkit_segment_data(a), n, seed);
    CHECK(skt_verify(shmkit_segment_data(b), n, seed) == -1);
    skt_fill(shmkit_segment_data(b), n, seed + 1);
    CHECK(skt_verify(shmkit_segment_data(a), n, seed + 1) == -1);
}

static void persistent_cycle(const char *name)
{
    shmkit_segment_opts_t o;
    shmkit_segment_t *s = NULL;
    shmkit_segment_info_t info;
    opts_size(&o, REQ);
    o.persistent = 1;
    o.exclusive = 1;
    CHECK_OK(shmkit_segment_create(name, &o, &s));
    skt_fill(shmkit_segment_data(s), REQ, 77);
    CHECK_OK(shmkit_segment_close(s));
    CHECK_OK(shmkit_segment_inspect(name, &info));
    CHECK(info.is_shmkit == 1);
    CHECK(info.persistent == 1);
    CHECK(info.stale == 0);
    s = NULL;
    CHECK_OK(shmkit_segment_open(name, NULL, &s));
    CHECKF(skt_verify(shmkit_segment_data(s), REQ, 77) == -1,
           "persistent data lost after close/reopen of %s", name);
    CHECK_OK(shmkit_segment_close(s));
    CHECK_OK(shmkit_segment_inspect(name, &info));
    CHECK_OK(shmkit_segment_unlink(name));
    CHECK_RC(shmkit_segment_inspect(name, &info), -ENOENT);
    CHECK_RC(shmkit_segment_unlink(name), -ENOENT);
}

static void test_posix(void)
{
    char n1[128], n1s[130], n2[128], n2s[130], n3[128], miss[128];
    shmkit_segment_opts_t o;
    shmkit_segment_t *a = NULL, *b = NULL, *c = NULL;
    shmkit_segment_info_t info;
    struct stat st;
    char path[300];

    skt_name(n1, sizeof n1);
    snprintf(n1s, sizeof n1s, "/%s", n1);
    opts_size(&o, REQ);
    o.exclusive = 1;
    CHECK_OK(shmkit_segment_create(n1, &o, &a));
    check_seg(a, REQ, SHMKIT_BACKEND_POSIX);
    const char *canon = shmkit_segment_name(a);
    CHECKF(strstr(canon, n1) != NULL, "canonical \"%s\" lacks \"%s\"", canon, n1);

    /* the object itself: /dev/shm/NAME, mode 0600, header stamped */
    snprintf(path, sizeof path, "/dev/shm/%s", n1);
    CHECK(stat(path, &st) == 0);
    CHECKF((st.st_mode & 07777) == 0600, "default mode is %o", st.st_mode & 07777);
    CHECK((uint64_t)st.st_size >= SKT_HDR_SIZE + REQ);
    uint64_t v = 0;
    CHECK(skt_peek(n1, SKT_OFF_MAGIC, &v, 8) == 0 && v == SKT_MAGIC);
    CHECK(skt_peek(n1, SKT_OFF_KIND, &v, 4) == 0 && v == SHMKIT_KIND_RAW);
    CHECK(skt_peek(n1, SKT_OFF_READY, &v, 4) == 0 && v == SKT_READY_VALUE);
    CHECK(skt_peek(n1, SKT_OFF_CREATOR_PID, &v, 8) == 0 && v == (uint64_t)getpid());

    /* "/NAME" is the same object, with the same canonical name */
    CHECK_OK(shmkit_segment_open(n1s, NULL, &b));
    check_shared(a, b, 5);
    CHECK(strcmp(shmkit_segment_name(b), canon) == 0);
    CHECK_OK(shmkit_segment_close(b));
    b = NULL;
    /* and the canonical name opens it too */
    CHECK_OK(shmkit_segment_open(canon, NULL, &b));
    check_shared(a, b, 6);
    CHECK_OK(shmkit_segment_close(b));
    b = NULL;

    /* exclusive create of an existing name */
    CHECK_RC(shmkit_segment_create(n1, &o, &b), -EEXIST);
    CHECK_RC(shmkit_segment_create(n1s, &o, &b), -EEXIST);
    /* non-exclusive create opens it; the existing size wins */
    shmkit_segment_opts_t big;
    opts_size(&big, 1u << 20);
    CHECK_OK(shmkit_segment_create(n1, &big, &b));
    CHECK(shmkit_segment_data_size(b) == shmkit_segment_data_size(a));
    check_shared(a, b, 7);
    CHECK_OK(shmkit_segment_close(b));
    b = NULL;

    /* inspect sees us as creator and attachee */
    CHECK_OK(shmkit_segment_inspect(n1, &info));
    CHECK(info.backend == SHMKIT_BACKEND_POSIX);
    CHECK(info.is_shmkit == 1 && info.check == 0);
    CHECK(info.kind == SHMKIT_KIND_RAW);
    CHECK(info.mode == 0600);
    CHECK(info.uid == geteuid());
    CHECK(info.creator_pid == getpid());
    CHECK(info.creator_alive == 1);
    CHECK(info.persistent == 0);
    CHECK(info.stale == 0);
    CHECK(info.data_offset == SKT_HDR_SIZE);
    CHECK(info.data_size == shmkit_segment_data_size(a));
    CHECK(info.size >= SKT_HDR_SIZE + REQ);
    CHECK(strcmp(info.name, canon) == 0);
    CHECKF(lists_alive(&info, getpid()), "our pid not listed as attached "
           "(nattached_listed %d)", info.nattached_listed);

    /* the only user closes an owned segment: it is gone */
    CHECK_OK(shmkit_segment_close(a));
    a = NULL;
    CHECK_RC(shmkit_segment_inspect(n1, &info), -ENOENT);
    CHECKF(access(path, F_OK) != 0, "%s still exists after last close", path);

    /* created with a leading slash */
    skt_name(n2, sizeof n2);
    snprintf(n2s, sizeof n2s, "/%s", n2);
    CHECK_OK(shmkit_segment_create(n2s, &o, &a));
    check_seg(a, REQ, SHMKIT_BACKEND_POSIX);
    CHECK_OK(shmkit_segment_open(n2, NULL, &b));
    check_shared(a, b, 8);
    CHECK(strcmp(shmkit_segment_name(a), shmkit_segment_name(b)) == 0);
    CHECK_RC(shmkit_segment_create(n2, &o, &c), -EEXIST);
    CHECK_OK(shmkit_segment_close(b));
    /* still there: a holds it */
    CHECK_OK(shmkit_segment_inspect(n2, &info));
    CHECK_OK(shmkit_segment_close(a));
    CHECK_RC(shmkit_segment_inspect(n2s, &info), -ENOENT);

    /* missing */
    skt_name(miss, sizeof miss);
    check_missing(miss, miss);

    /* persistent */
    skt_name(n3, sizeof n3);
    persistent_cycle(n3);
}

static void test_sysv(void)
{
    char n1[64], n2[64], miss[64], hex[16];
    key_t key, k2, kmiss;
    shmkit_segment_opts_t o;
    shmkit_segment_t *a = NULL, *b = NULL;
    shmkit_segment_info_t info;
    struct shmid_ds ds;

    skt_sysv_name(n1, sizeof n1, &key);
    opts_size(&o, REQ);
    o.exclusive = 1;
    CHECK_OK(shmkit_segment_create(n1, &o, &a));
    check_seg(a, REQ, SHMKIT_BACKEND_SYSV);
    char canon[256];
    snprintf(canon, sizeof canon, "%s", shmkit_segment_name(a));
    CHECKF(!strncmp(canon, "sysv:", 5), "canonical \"%s\"", canon);

    int id = shmget(key, 0, 0);
    CHECKF(id >= 0, "shmget(0x%08x): %s", (unsigned)key, strerror(errno));
    CHECK(shmctl(id, IPC_STAT, &ds) == 0);
    CHECK(ds.shm_segsz >= SKT_HDR_SIZE + REQ);
    CHECKF((ds.shm_perm.mode & 0777) == 0600, "sysv default mode %o",
           ds.shm_perm.mode & 0777);

    CHECK_OK(shmkit_segment_open(canon, NULL, &b));
    check_shared(a, b, 9);
    CHECK(strcmp(shmkit_segment_name(b), canon) == 0);
    CHECK_OK(shmkit_segment_close(b));
    b = NULL;
    CHECK_OK(shmkit_segment_open(n1, NULL, &b));
    check_shared(a, b, 10);
    CHECK_OK(shmkit_segment_close(b));
    b = NULL;

    CHECK_RC(shmkit_segment_create(n1, &o, &b), -EEXIST);

    CHECK_OK(shmkit_segment_inspect(n1, &info));
    CHECK(info.backend == SHMKIT_BACKEND_SYSV);
    CHECK(info.is_shmkit == 1 && info.kind == SHMKIT_KIND_RAW);
    CHECK(info.creator_pid == getpid() && info.creator_alive == 1);
    CHECK(info.mode == 0600);
    CHECKF(info.nattach == 1, "nattach %d, expected 1", info.nattach);
    CHECK(info.stale == 0 && info.persistent == 0);

    CHECK_OK(shmkit_segment_close(a));
    a = NULL;
    errno = 0;
    CHECKF(shmget(key, 0, 0) < 0 && errno == ENOENT,
           "sysv key 0x%08x still exists after the last close", (unsigned)key);
    CHECK_RC(shmkit_segment_inspect(n1, &info), -ENOENT);

    /* missing key: the message names the key */
    skt_sysv_name(miss, sizeof miss, &kmiss);
    snprintf(hex, sizeof hex, "%08x", (unsigned)kmiss);
    check_missing(miss, hex);

    /* persistent */
    skt_sysv_name(n2, sizeof n2, &k2);
    persistent_cycle(n2);

    /* sysv:private: the canonical name reopens it */
    CHECK_OK(shmkit_segment_create("sysv:private", &o, &a));
    check_seg(a, REQ, SHMKIT_BACKEND_SYSV);
    snprintf(canon, sizeof canon, "%s", shmkit_segment_name(a));
    skt_track(canon);
    CHECKF(strcmp(canon, "sysv:private") != 0,
           "canonical name of a private segment must name its id: \"%s\"", canon);
    CHECK_OK(shmkit_segment_open(canon, NULL, &b));
    check_shared(a, b, 11);
    CHECK_OK(shmkit_segment_close(b));
    b = NULL;
    CHECK_OK(shmkit_segment_close(a));
    a = NULL;
    CHECKF(shmkit_segment_inspect(canon, &info) < 0,
           "private %s survives its last close", canon);

    /* sysv:ftok=PATH:7 */
    char fpath[128], fname[200];
    snprintf(fpath, sizeof fpath, "/tmp/skt-%s-%d-ftok", skt_test, (int)getpid());
    skt_track_path(fpath);
    int fd = open(fpath, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    close(fd);
    snprintf(fname, sizeof fname, "sysv:ftok=%s:7", fpath);
    skt_track(fname);
    key_t fk = ftok(fpath, 7);
    CHECK(fk != -1);
    skt_sysv_rm_key(fk);
    CHECK_OK(shmkit_segment_create(fname, &o, &a));
    check_seg(a, REQ, SHMKIT_BACKEND_SYSV);
    CHECKF(shmget(fk, 0, 0) >= 0, "no sysv segment with ftok key 0x%08x",
           (unsigned)fk);
    snprintf(canon, sizeof canon, "%s", shmkit_segment_name(a));
    CHECK_OK(shmkit_segment_open(canon, NULL, &b));
    check_shared(a, b, 12);
    CHECK_OK(shmkit_segment_close(b));
    b = NULL;
    char keyname[64];
    snprintf(keyname, sizeof keyname, "sysv:0x%08x", (unsigned)fk);
    CHECK_OK(shmkit_segment_open(keyname, NULL, &b));
    check_shared(a, b, 13);
    CHECK_OK(shmkit_segment_close(b));
    b = NULL;
    CHECK_RC(shmkit_segment_create(fname, &o, &b), -EEXIST);
    CHECK_OK(shmkit_segment_close(a));
    errno = 0;
    CHECK(shmget(fk, 0, 0) < 0 && errno == ENOENT);
}

static void test_file(void)
{
    char n1[200], n2[200], miss[200];
    shmkit_segment_opts_t o;
    shmkit_segment_t *a = NULL, *b = NULL;
    shmkit_segment_info_t info;
    struct stat st;

    skt_file_name(n1, sizeof n1);
    const char *path = n1 + 5;
    opts_size(&o, REQ);
    o.exclusive = 1;
    CHECK_OK(shmkit_segment_create(n1, &o, &a));
    check_seg(a, REQ, SHMKIT_BACKEND_FILE);
    CHECKF(strcmp(shmkit_segment_name(a), n1) == 0, "canonical \"%s\" != \"%s\"",
           shmkit_segment_name(a), n1);
    CHECK(stat(path, &st) == 0);
    CHECK((uint64_t)st.st_size >= SKT_HDR_SIZE + REQ);
    CHECKF((st.st_mode & 07777) == 0600, "file mode %o", st.st_mode & 07777);

    /* data reaches the file */
    skt_fill(shmkit_segment_data(a), REQ, 21);
    CHECK_OK(shmkit_segment_sync(a));
    {
        uint8_t buf[REQ];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK(pread(fd, buf, REQ, SKT_HDR_SIZE) == (ssize_t)REQ);
        close(fd);
        CHECK(skt_verify(buf, REQ, 21) == -1);
    }

    CHECK_OK(shmkit_segment_open(n1, NULL, &b));
    check_shared(a, b, 22);
    CHECK(strcmp(shmkit_segment_name(b), shmkit_segment_name(a)) == 0);
    CHECK_OK(shmkit_segment_close(b));
    b = NULL;
    CHECK_RC(shmkit_segment_create(n1, &o, &b), -EEXIST);

    CHECK_OK(shmkit_segment_inspect(n1, &info));
    CHECK(info.backend == SHMKIT_BACKEND_FILE);
    CHECK(info.is_shmkit == 1 && info.kind == SHMKIT_KIND_RAW);
    CHECK(info.creator_pid == getpid() && info.creator_alive == 1);
    CHECK(lists_alive(&info, getpid()));

    CHECK_OK(shmkit_segment_close(a));
    CHECK_RC(shmkit_segment_inspect(n1, &info), -ENOENT);
    CHECKF(access(path, F_OK) != 0, "owned file segment %s survives its last "
           "close", path);

    skt_file_name(miss, sizeof miss);
    check_missing(miss, miss + 5);

    skt_file_name(n2, sizeof n2);
    persistent_cycle(n2);
}

static void test_unnamed(const char *name, shmkit_backend_t b, const char *prefix)
{
    shmkit_segment_opts_t o;
    shmkit_segment_t *s = NULL;
    opts_size(&o, REQ);
    CHECK_OK(shmkit_segment_create(name, &o, &s));
    check_seg(s, REQ, b);
    CHECKF(!strncmp(shmkit_segment_name(s), prefix, strlen(prefix)),
           "canonical \"%s\" lacks prefix \"%s\"", shmkit_segment_name(s), prefix);
    CHECK_OK(shmkit_segment_close(s));
    /* page rounding: a 1-byte segment has a page of data */
    opts_size(&o, 1);
    CHECK_OK(shmkit_segment_create(name, &o, &s));
    CHECK(shmkit_segment_data_size(s) >= 4096);
    memset(shmkit_segment_data(s), 0x5a, shmkit_segment_data_size(s));
    CHECK_OK(shmkit_segment_close(s));
}

static int body(void *arg)
{
    (void)arg;
    test_posix();
    test_sysv();
    test_file();
    test_unnamed("memfd:x", SHMKIT_BACKEND_MEMFD, "memfd:");
    test_unnamed("anon:", SHMKIT_BACKEND_ANON, "anon:");
    test_unnamed("anon:label", SHMKIT_BACKEND_ANON, "anon:");
    return SKT_PASS;
}

int main(void)
{
    skt_init("basic");
    return skt_run_isolated(body, NULL);
}
