/* backend.h - private: what each backend provides, and shared helpers. */
#ifndef SK_BACKEND_H
#define SK_BACKEND_H

#include <sys/shm.h>

#include "segment.h"

struct sk_backend {
    int (*create)(const struct sk_name *nm, const shmkit_segment_opts_t *o,
                  shmkit_segment_t **out);
    int (*open)(const struct sk_name *nm, const shmkit_segment_opts_t *o,
                shmkit_segment_t **out);
    int (*close)(shmkit_segment_t *s);
    int (*unlink)(const struct sk_name *nm);
    int (*inspect)(const struct sk_name *nm, shmkit_segment_info_t *info);
    int (*stat)(shmkit_segment_t *s, shmkit_segment_info_t *info);
};

extern const struct sk_backend sk_backend_fd;   /* posix, file, memfd */
extern const struct sk_backend sk_backend_sysv;
extern const struct sk_backend sk_backend_anon;

shmkit_segment_t *sk_handle_new(const struct sk_name *nm);
void sk_handle_free(shmkit_segment_t *s);
void sk_header_publish(struct sk_header *h);
int sk_header_ready(const struct sk_header *h);
void sk_info_from_header(const struct sk_header_snap *h, shmkit_segment_info_t *info);
int sk_numa_bind(void *addr, uint64_t len, int node, const char *name);
int sk_prefault(void *addr, uint64_t len, int writable);
int sk_mlock(void *addr, uint64_t len, const char *name);

/* fd backend entry points used by memfd passing and gc */
int sk_fd_attach(const struct sk_name *nm, int fd, const shmkit_segment_opts_t *o,
                 shmkit_segment_t **out);
/* gc one fd-backed object by path; 1 removed, 0 not stale, <0 error */
int sk_fd_gc_one(const char *canon, const char *path, int dry_run,
                 shmkit_segment_info_t *info);
int sk_sysv_gc_one(int shmid, int dry_run, shmkit_segment_info_t *info);
int sk_sysv_inspect_id(int shmid, shmkit_segment_info_t *info);

/* common hints */
int sk_err_open(int code, const char *what, const char *name, const char *path);
/* opts.owner_only: 0 when we (our effective uid) own and created the object,
 * else -EPERM with an error that names the owner. */
int sk_check_owner(const char *name, unsigned owner, unsigned creator);

#endif
