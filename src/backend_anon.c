/*
 * backend_anon.c - MAP_SHARED|MAP_ANONYMOUS: shared with children by fork
 * only.  No name, no fd, no liveness beyond the mapping itself.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "backend.h"
#include "error.h"
#include "segment.h"
#include "channel.h"

static int anon_create(const struct sk_name *nm, const shmkit_segment_opts_t *o,
                       shmkit_segment_t **out)
{
    int huge = o->hugepages != 0;
    uint64_t page = huge ? sk_hugepage_size() : sk_page_size();
    uint64_t total = sk_round_up(SK_HEADER_SIZE + o->size, page);
    shmkit_segment_t *s = sk_handle_new(nm);
    if (!s)
        return sk_err(-ENOMEM, "create", nm->canon, NULL);
    int r;
    void *p = mmap(NULL, total, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | (huge ? MAP_HUGETLB : 0), -1, 0);
    if (p == MAP_FAILED) {
        r = -errno;
        if (huge)
            r = sk_err(SHMKIT_E_NO_HUGEPAGES, "mmap", nm->canon,
                       "no free huge pages; reserve some with 'sysctl "
                       "vm.nr_hugepages=N' (see HugePages_Free in /proc/meminfo)");
        else
            r = sk_err(r, "mmap", nm->canon, "not enough memory");
        goto fail;
    }
    s->base = p;
    s->map_size = total;
    if ((r = sk_numa_bind(p, total, o->numa_node, nm->canon)) < 0)
        goto fail;
    shmkit_segment_opts_t oo = *o;
    if (oo.reserve)
        oo.prefault = 1; /* no fd to fallocate: reserving means touching */
    if ((r = sk_apply_mem_opts(s, &oo, 1)) < 0)
        goto fail;
    sk_header_init(p, total, o->kind,
                   (huge ? SK_F_HUGEPAGES : 0));
    s->kind = o->kind;
    s->persistent = 1; /* nothing to unlink */
    /* no table slot: a fork child shares the creator's attachment */
    if ((r = sk_run_create_hook(s)) < 0)
        goto fail;
    sk_header_publish(p);
    *out = s;
    return 0;
fail:
    sk_handle_free(s);
    return r;
}

static int anon_noname(const struct sk_name *nm)
{
    return sk_err(SHMKIT_E_UNSUPPORTED, "open", nm->canon,
                  "an anon: segment has no name; it is shared with children "
                  "by fork only (use memfd: to pass it to other processes)");
}

static int anon_open(const struct sk_name *nm, const shmkit_segment_opts_t *o,
                     shmkit_segment_t **out)
{
    (void)o;
    (void)out;
    return anon_noname(nm);
}

static int anon_close(shmkit_segment_t *s)
{
    if (s->locked && s->base)
        munlock(s->base, s->map_size);
    sk_handle_free(s);
    return 0;
}

static int anon_inspect(const struct sk_name *nm, shmkit_segment_info_t *info)
{
    (void)info;
    return anon_noname(nm);
}

static int anon_stat(shmkit_segment_t *s, shmkit_segment_info_t *info)
{
    memset(info, 0, sizeof *info);
    memcpy(info->name, s->name, sizeof info->name);
    info->backend = SHMKIT_BACKEND_ANON;
    info->size = s->map_size;
    info->mode = 0600;
    struct sk_header_snap snap;
    sk_header_validate(sk_hdr(s), s->map_size, s->name, &snap);
    sk_info_from_header(&snap, info);
    info->nattach = -1;
    return 0;
}

const struct sk_backend sk_backend_anon = {
    .create = anon_create,
    .open = anon_open,
    .close = anon_close,
    .unlink = anon_noname,
    .inspect = anon_inspect,
    .stat = anon_stat,
};
