/*
 * fuzz_segment_open - arbitrary bytes as the contents of a POSIX segment.
 *
 * The input becomes /dev/shm/skfz-seg-PID-0, then shmkit looks at it the
 * way a process meets a segment written by a stranger: inspect, stale,
 * channel_stat, open (timeout 0, read-write or read-only), stat, a read of
 * the whole data area it reports, close.  None of it may crash, read
 * outside the mapping (guard pages, see fuzz_common.h) or hang.
 *
 * Input: byte 0 picks how the rest becomes the object:
 *   bits 0-1  0: the bytes as they are (any size, shorter than a header too)
 *             1: the bytes, padded with zeros or cut to 8 KiB (a header)
 *             2: the bytes, padded with zeros to 8 KiB + N pages
 *             3: a valid, ready header of kind (bits 6-7) + N pages of data,
 *                with the bytes applied as patches (fuzz_common.h)
 *   bit 2     open read-only
 *   bits 4-5  N - 1 (pages of data, modes 2 and 3)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shmkit.h"
#include "../src/channel.h"
#include "../src/segment.h"
#include "fuzz_common.h"

static volatile uint64_t sink;

static void template_header(unsigned char *buf, uint64_t total, uint32_t kind)
{
    struct sk_header *h = (struct sk_header *)(void *)buf;
    memset(h, 0, sizeof *h);
    h->magic = SK_MAGIC;
    h->format_version = SK_FORMAT_VERSION;
    h->abi = SK_ABI_WORD;
    h->kind = kind;
    h->total_size = total;
    h->data_offset = SK_HEADER_SIZE;
    h->data_size = total - SK_HEADER_SIZE;
    h->max_attach = SHMKIT_MAX_ATTACH;
    h->creator_pid = getpid();
    h->created_unix_ns = 1;
    atomic_store_explicit(&h->ready, SK_READY_VALUE, memory_order_relaxed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char name[64];
    static unsigned char *buf;
    static shmkit_segment_info_t info;
    static shmkit_channel_stat_t cst;
    enum { MAXBUF = SK_HEADER_SIZE + 4 * 4096 + (1 << 16) };
    if (!buf) {
        fz_init_once();
        fz_name(name, sizeof name, "seg", 0);
        fz_cleanup_add(name);
        buf = malloc(MAXBUF);
        if (!buf)
            abort();
    }
    if (size == 0)
        return 0;
    unsigned mode = data[0];
    const uint8_t *in = data + 1;
    size_t n = size - 1, total;
    uint64_t pages = 1 + ((mode >> 4) & 3);
    if (n > MAXBUF - SK_HEADER_SIZE - 4 * 4096)
        n = MAXBUF - SK_HEADER_SIZE - 4 * 4096;
    switch (mode & 3) {
    case 0:
        memcpy(buf, in, n);
        total = n;
        break;
    case 1:
        total = SK_HEADER_SIZE;
        memset(buf, 0, total);
        memcpy(buf, in, n < total ? n : total);
        break;
    case 2:
        total = SK_HEADER_SIZE + pages * 4096;
        if (n > total)
            total = n;
        memset(buf, 0, total);
        memcpy(buf, in, n);
        break;
    default: {
        total = SK_HEADER_SIZE + pages * 4096;
        memset(buf, 0, total);
        template_header(buf, total, 1 + (mode >> 6));
        const uint8_t *p = in, *end = in + n;
        struct fz_patch pt;
        while (fz_next_patch(&p, end, total, &pt))
            memcpy(buf + pt.off, pt.bytes, pt.len);
        break;
    }
    }

    shm_unlink(name);
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        abort(); /* the harness's own fault: say so loudly */
    if (total && write(fd, buf, total) != (ssize_t)total)
        abort();
    close(fd);

    shmkit_segment_inspect(name, &info);
    shmkit_segment_stale(name);
    shmkit_channel_stat(name, &cst);

    shmkit_segment_opts_t o;
    shmkit_segment_opts_init(&o);
    o.timeout_ms = 0;
    o.readonly = (mode & 4) != 0;
    shmkit_segment_t *seg;
    if (shmkit_segment_open(name, &o, &seg) == 0) {
        shmkit_segment_stat(seg, &info);
        if (info.nattached_listed > SHMKIT_MAX_ATTACH)
            abort();
        /* the data area the library reports must lie inside its mapping */
        sink += fz_touch(shmkit_segment_data(seg),
                         (size_t)shmkit_segment_data_size(seg));
        shmkit_segment_close(seg);
    }
    shm_unlink(name);
    return 0;
}
