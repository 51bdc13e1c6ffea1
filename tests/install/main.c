/* consumer - uses an installed libshmkit: creates and closes an anon:
 * segment, writes to it, and prints the library's version. */
#include <shmkit.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    shmkit_segment_opts_t o;
    shmkit_segment_t *seg;
    int rc;

    shmkit_segment_opts_init(&o);
    o.size = 4096;
    rc = shmkit_segment_create("anon:consumer", &o, &seg);
    if (rc < 0) {
        fprintf(stderr, "consumer: create failed: %s\n", shmkit_last_error());
        return 1;
    }
    if (shmkit_segment_data_size(seg) < 4096) {
        fprintf(stderr, "consumer: data area too small\n");
        return 1;
    }
    strcpy((char *)shmkit_segment_data(seg), "consumer ok");
    printf("%s with shmkit %s (%s)\n", (char *)shmkit_segment_data(seg),
           shmkit_version(), SHMKIT_VERSION_STRING);
    rc = shmkit_segment_close(seg);
    if (rc < 0) {
        fprintf(stderr, "consumer: close failed: %s\n", shmkit_last_error());
        return 1;
    }
    return 0;
}
