/*
 * fuzz_common.h - what the fuzz harnesses share: per-process object names,
 * cleanup of objects left by crashed runs, guard pages around every shared
 * mapping, and the patch format the channel harnesses read.
 *
 * Guard pages.  ASan has no redzones inside mmap'ed memory, and the library
 * maps segments itself, so an access just past a mapping would usually land
 * in a neighbouring mapping and go unnoticed.  The harnesses are linked with
 * -Wl,--wrap=mmap,--wrap=munmap: every shared file mapping the library makes
 * (addr NULL, MAP_SHARED, an fd) is placed inside a PROT_NONE reservation,
 * 64 KiB of it before and 1 MiB after, so any read or write near the
 * mapping but outside it faults (SIGSEGV), which libFuzzer reports as a
 * crash.
 */
#ifndef SHMKIT_FUZZ_COMMON_H
#define SHMKIT_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes "/skfz-TAG-PID-N" into buf: a POSIX name no other process uses. */
void fz_name(char *buf, size_t len, const char *tag, int n);

/* Once per process: removes /dev/shm/skfz-* objects of dead processes and
 * arranges for this process's objects to be removed at exit. */
void fz_init_once(void);

/* Remembers a POSIX name ("/skfz-...") to shm_unlink at exit. */
void fz_cleanup_add(const char *name);

/* Reads the data area and returns a byte sum, so that every byte of
 * [p, p+len) is really loaded (an out-of-bounds range faults). */
uint64_t fz_touch(const void *p, size_t len);

/* Guard pages on/off (on by default). */
void fz_guard_enable(int on);

/*
 * Patch format: a sequence of records [off_lo][off_hi][len] len*byte.
 * off = (off_hi << 8 | off_lo) & 0x7fff, taken modulo the area; len is
 * taken modulo 17 (0..16) and clipped at the area's end.  Bit 15 of the
 * offset marks a record for the racing thread (fuzz_channel_race).
 */
struct fz_patch {
    uint32_t off;
    uint32_t len;
    int race;
    const uint8_t *bytes;
};
/* Parses the next patch from *p (advancing it); 0 when none is left. */
int fz_next_patch(const uint8_t **p, const uint8_t *end, size_t area,
                  struct fz_patch *out);

#endif
