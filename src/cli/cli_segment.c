/*
 * cli_segment.c - segment commands: ls, info, create, rm, gc.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* ------------------------------------------------------------------------ */
/* shared bits                                                              */
/* ------------------------------------------------------------------------ */

/* The check that makes a segment unusable (0: its header is good).  A
 * shmkit segment whose creator died before it was ready has is_shmkit set
 * (it is stale) and check SHMKIT_E_NOT_READY. */
static int info_check(const shmkit_segment_info_t *in)
{
    if (in->check)
        return in->check;
    return in->is_shmkit ? 0 : SHMKIT_E_NOT_SHMKIT;
}

/* Is the header part of info (kind, sizes, creator) filled in? */
static int header_known(const shmkit_segment_info_t *in)
{
    return in->is_shmkit && in->check == 0;
}

static const char *kind_or_null(const shmkit_segment_info_t *in)
{
    return header_known(in) && in->kind != SHMKIT_KIND_NONE
               ? shmkit_kind_name(in->kind)
               : NULL;
}

/* Could we not read it at all (its mode keeps us out)? */
static int no_access(const shmkit_segment_info_t *in)
{
    return in->check == -EACCES || in->check == -EPERM;
}

static const char *kind_or_dash(const shmkit_segment_info_t *in)
{
    const char *k = kind_or_null(in);
    return k ? k : no_access(in) ? "?" : "-";
}

/* Why a segment failed its checks, for the hint line. */
static const char *check_hint(int check)
{
    switch (check) {
    case SHMKIT_E_NOT_SHMKIT:
        return "it was not made by shmkit (no shmkit magic); 'shmkit ls' "
               "shows its size and owner; remove it with 'shmkit rm NAME' if "
               "it is yours";
    case SHMKIT_E_VERSION:
        return "it was made by a shmkit with another format version; use that "
               "version of shmkit, or remove it with 'shmkit rm NAME' when "
               "nobody uses it";
    case SHMKIT_E_ABI:
        return "it was made by a shmkit built for another architecture or "
               "with other struct sizes (the ABI word differs); use the build "
               "that created it";
    case SHMKIT_E_TRUNCATED:
        return "the object is smaller than its header says: something shrank "
               "it after creation, so its data cannot be trusted; remove it "
               "with 'shmkit rm NAME'";
    case SHMKIT_E_CORRUPT:
        return "a header field is out of range: the segment was overwritten "
               "or damaged; remove it with 'shmkit rm NAME' when nobody uses "
               "it";
    case SHMKIT_E_NOT_READY:
        return "its creator never finished setting it up, and probably died "
               "during creation; remove it with 'shmkit rm NAME' if its "
               "creator is gone";
    case SHMKIT_E_KIND:
        return "it holds another kind of shmkit segment than expected";
    default:
        return NULL;
    }
}

static int is_check_code(int rc)
{
    switch (rc) {
    case SHMKIT_E_NOT_SHMKIT:
    case SHMKIT_E_VERSION:
    case SHMKIT_E_ABI:
    case SHMKIT_E_TRUNCATED:
    case SHMKIT_E_CORRUPT:
    case SHMKIT_E_NOT_READY:
        return 1;
    default:
        return 0;
    }
}

/* Prints the hint for check with NAME replaced by the real name. */
static void print_check_hint(int check, const char *name)
{
    const char *h = check_hint(check);
    const char *p;
    char safe[300];

    if (h == NULL)
        return;
    if (check == SHMKIT_E_NOT_SHMKIT && strncmp(name, "file:", 5) == 0)
        /* any file at all: never suggest deleting it */
        h = "it is not a shmkit segment (no shmkit magic): a file: name "
            "opens any file, and this one is something else";
    cli_safe_copy(safe, sizeof safe, name);
    fputs("shmkit: hint: ", stderr);
    while ((p = strstr(h, "NAME")) != NULL) {
        fwrite(h, 1, (size_t)(p - h), stderr);
        fputs(safe, stderr);
        h = p + 4;
    }
    fprintf(stderr, "%s\n", h);
}

static int not_usable(const char *name, int check, int stale)
{
    char safe[300];
    cli_safe_copy(safe, sizeof safe, name);
    fprintf(stderr, "shmkit: error: %s is not a usable shmkit segment: %s\n",
            safe, shmkit_strerror(check));
    if (stale)
        cli_hint("it is stale (every process that had it is gone): "
                 "'shmkit gc' removes it");
    else
        print_check_hint(check, name);
    return CLI_EXIT_ERROR;
}

/* inspect could stat the object but not read its header (-EACCES, ...). */
static int unreadable(const char *name, const shmkit_segment_info_t *in,
                      int check)
{
    char safe[300];
    cli_safe_copy(safe, sizeof safe, name);
    fprintf(stderr, "shmkit: error: cannot read the header of %s: %s\n",
            safe, shmkit_strerror(check));
    if (check == -EACCES || check == -EPERM)
        cli_hint("the segment is mode %04o, owned by uid %lu gid %lu, and "
                 "you are uid %lu; run as its owner, or have it created with "
                 "--mode 0660 --group GROUP and join that group",
                 (unsigned)(in->mode & 07777), (unsigned long)in->uid,
                 (unsigned long)in->gid, (unsigned long)geteuid());
    return CLI_EXIT_ERROR;
}

static void json_attached(cli_json_t *j, const shmkit_segment_info_t *in)
{
    int n = in->nattached_listed;
    if (n < 0)
        n = 0;
    if (n > SHMKIT_MAX_ATTACH)
        n = SHMKIT_MAX_ATTACH;
    cli_json_begin_array(j, "attached");
    for (int i = 0; i < n; i++) {
        const shmkit_attachee_t *a = &in->attached[i];
        cli_json_begin_object(j, NULL);
        cli_json_int(j, "pid", a->pid);
        if (a->alive < 0)
            cli_json_null(j, "alive");
        else
            cli_json_bool(j, "alive", a->alive);
        cli_json_uint(j, "role", a->role);
        cli_json_end_object(j);
    }
    cli_json_end_array(j);
}

/* The fields ls and info both print in JSON. */
static void json_common(cli_json_t *j, const shmkit_segment_info_t *in)
{
    char buf[64];
    cli_json_string(j, "name", in->name);
    cli_json_string(j, "backend", shmkit_backend_name(in->backend));
    cli_json_uint(j, "size", in->size);
    cli_json_string(j, "mode", cli_format_mode(in->mode, buf, sizeof buf));
    cli_json_uint(j, "uid", in->uid);
    cli_json_string(j, "owner", cli_user_name(in->uid, buf, sizeof buf));
    cli_json_uint(j, "gid", in->gid);
    cli_json_string(j, "group", cli_group_name(in->gid, buf, sizeof buf));
    if (no_access(in)) /* whose it is cannot be told */
        cli_json_null(j, "shmkit");
    else
        cli_json_bool(j, "shmkit", in->is_shmkit);
    cli_json_string(j, "check", in->check ? shmkit_strerror(in->check) : NULL);
    cli_json_string(j, "kind", kind_or_null(in));
    if (in->nattach < 0)
        cli_json_null(j, "nattach");
    else
        cli_json_int(j, "nattach", in->nattach);
    json_attached(j, in);
    cli_json_bool(j, "stale", in->stale);
}

/* ------------------------------------------------------------------------ */
/* ls                                                                       */
/* ------------------------------------------------------------------------ */

static const char ls_usage[] = "shmkit ls [--json]";

static void ls_help(void)
{
    fputs("usage: shmkit ls [--json]\n"
          "\n"
          "Lists every POSIX segment in /dev/shm and every SysV segment,\n"
          "shmkit's own and foreign ones, with size, mode, owner and the\n"
          "processes attached.  KIND is the shmkit kind (raw, queue, bus,\n"
          "latest), '-' for a segment shmkit did not make, or '?' for one\n"
          "this user may not read (\"shmkit\": null in JSON).  STALE marks an\n"
          "owned shmkit segment whose processes are all gone: 'shmkit gc'\n"
          "removes those.  NAME is printed exactly as 'shmkit rm' and\n"
          "'shmkit info' accept it.  ATTACHED is the number of processes\n"
          "attached ('?' when unknown), then their pids where known; a pid\n"
          "marked ':dead' has died, ':?' cannot be seen from here.  For a\n"
          "POSIX segment shmkit did not make it counts the processes seen\n"
          "mapping it, which is a lower bound when others' are hidden.\n"
          "\n"
          "options:\n"
          "  -j, --json   print a JSON array of objects: name, backend, size\n"
          "               (bytes), mode (\"0600\"), uid, owner, gid, group,\n"
          "               shmkit, check, kind, nattach, attached\n"
          "               ([{pid, alive, role}]), stale, persistent\n"
          "  -h, --help   show this help\n"
          "\n"
          "examples:\n"
          "  shmkit ls\n"
          "  shmkit ls --json | jq -r '.[] | select(.stale) | .name'\n"
          "\n", stdout);
    fputs(CLI_HELP_EXIT_CODES, stdout);
}

struct seg_vec {
    shmkit_segment_info_t *v;
    size_t n, cap;
};

static int collect_cb(const shmkit_segment_info_t *in, void *ctx)
{
    struct seg_vec *sv = ctx;
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 16;
        shmkit_segment_info_t *nv = realloc(sv->v, cap * sizeof *nv);
        if (nv == NULL)
            return -ENOMEM;
        sv->v = nv;
        sv->cap = cap;
    }
    sv->v[sv->n++] = *in;
    return 0;
}

static int info_cmp(const void *a, const void *b)
{
    const shmkit_segment_info_t *x = a, *y = b;
    if (x->backend != y->backend)
        return x->backend < y->backend ? -1 : 1;
    return strcmp(x->name, y->name);
}

#define MAX_PIDS_SHOWN 4

static void attached_cell(char *buf, size_t len,
                          const shmkit_segment_info_t *in)
{
    size_t off;
    int n = in->nattached_listed;

    if (n > SHMKIT_MAX_ATTACH)
        n = SHMKIT_MAX_ATTACH;
    if (in->nattach < 0)
        snprintf(buf, len, "?");
    else
        snprintf(buf, len, "%d", in->nattach);
    if (n <= 0)
        return;
    off = strlen(buf);
    for (int i = 0; i < n && off + 1 < len; i++) {
        const shmkit_attachee_t *a = &in->attached[i];
        if (i == MAX_PIDS_SHOWN) {
            snprintf(buf + off, len - off, ",+%d", n - i);
            off += strlen(buf + off);
            break;
        }
        snprintf(buf + off, len - off, "%s%lld%s", i ? "," : " (",
                 (long long)a->pid,
                 a->alive == 0 ? ":dead" : a->alive < 0 ? ":?" : "");
        off += strlen(buf + off);
    }
    if (off + 1 < len)
        snprintf(buf + off, len - off, ")");
}

struct row {
    char name[256];
    char size[16];
    char mode[8];
    char owner[64];
    char attached[160];
};

void cli_segment_table(FILE *f, const shmkit_segment_info_t *infos, size_t n)
{
    static const char *hdr[] = {"NAME", "BACKEND", "SIZE", "MODE",
                                "OWNER", "ATTACHED", "KIND", "STALE"};
    int w[8];
    struct row *rows = calloc(n ? n : 1, sizeof *rows);

    for (int c = 0; c < 8; c++)
        w[c] = (int)strlen(hdr[c]);
    for (size_t i = 0; rows && i < n; i++) {
        const shmkit_segment_info_t *in = &infos[i];
        struct row *r = &rows[i];
        int len;
        cli_safe_copy(r->name, sizeof r->name, in->name);
        cli_format_size(in->size, r->size, sizeof r->size);
        cli_format_mode(in->mode, r->mode, sizeof r->mode);
        cli_user_name(in->uid, r->owner, sizeof r->owner);
        attached_cell(r->attached, sizeof r->attached, in);
        if ((len = (int)strlen(r->name)) > w[0]) w[0] = len;
        if ((len = (int)strlen(shmkit_backend_name(in->backend))) > w[1]) w[1] = len;
        if ((len = (int)strlen(r->size)) > w[2]) w[2] = len;
        if ((len = (int)strlen(r->owner)) > w[4]) w[4] = len;
        if ((len = (int)strlen(r->attached)) > w[5]) w[5] = len;
        if ((len = (int)strlen(kind_or_dash(in))) > w[6]) w[6] = len;
    }
    fprintf(f, "%-*s  %-*s  %*s  %-*s  %-*s  %-*s  %-*s  %s\n",
            w[0], hdr[0], w[1], hdr[1], w[2], hdr[2], w[3], hdr[3],
            w[4], hdr[4], w[5], hdr[5], w[6], hdr[6], hdr[7]);
    for (size_t i = 0; rows && i < n; i++) {
        const shmkit_segment_info_t *in = &infos[i];
        const struct row *r = &rows[i];
        fprintf(f, "%-*s  %-*s  %*s  %-*s  %-*s  %-*s  %-*s  %s\n",
                w[0], r->name, w[1], shmkit_backend_name(in->backend),
                w[2], r->size, w[3], r->mode, w[4], r->owner,
                w[5], r->attached, w[6], kind_or_dash(in),
                in->stale ? "stale" : "-");
    }
    free(rows);
}

int cli_cmd_ls(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct seg_vec sv = {NULL, 0, 0};
    int json = 0, c, rc;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":jh", lopts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h': ls_help(); return CLI_EXIT_OK;
        default: return cli_bad_option("ls", ls_usage, argv, c);
        }
    }
    if (optind < argc)
        return cli_usage_error("ls", ls_usage, NULL,
                               "unexpected argument '%s'", argv[optind]);

    shmkit_clear_error();
    rc = shmkit_segment_list(collect_cb, &sv);
    if (rc < 0) {
        free(sv.v);
        return cli_lib_error(rc, "listing segments", NULL);
    }
    if (sv.n > 1)
        qsort(sv.v, sv.n, sizeof *sv.v, info_cmp);

    if (json) {
        cli_json_t j;
        cli_json_init(&j, stdout);
        cli_json_begin_array(&j, NULL);
        for (size_t i = 0; i < sv.n; i++) {
            cli_json_begin_object(&j, NULL);
            json_common(&j, &sv.v[i]);
            if (header_known(&sv.v[i]))
                cli_json_bool(&j, "persistent", sv.v[i].persistent);
            else
                cli_json_null(&j, "persistent");
            cli_json_end_object(&j);
        }
        cli_json_end_array(&j);
        cli_json_finish(&j);
    } else {
        cli_segment_table(stdout, sv.v, sv.n);
    }
    free(sv.v);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* info                                                                     */
/* ------------------------------------------------------------------------ */

static const char info_usage[] = "shmkit info NAME [--json]";

static void info_help(void)
{
    fputs("usage: shmkit info NAME [--json]\n"
          "\n"
          "Shows what a segment's header says, without attaching to it: kind,\n"
          "sizes, creator (and whether it is alive), creation time, and the\n"
          "processes attached, each alive, dead or unknown (a pid this process\n"
          "cannot see, e.g. in another container).  For a channel it adds the\n"
          "counters: messages and bytes written, the writer, whether the\n"
          "stream was closed, and each reader's position, lag (bytes behind\n"
          "the writer), messages read and lost.  A segment shmkit did not\n"
          "make, or one that fails a check, is reported as an error after the\n"
          "size, mode and owner are printed.\n"
          "\n"
          "NAME: NAME or /NAME (POSIX), sysv:KEY, sysv:id=SHMID, file:PATH.\n"
          "\n"
          "options:\n"
          "  -j, --json   print one JSON object: name, backend, size, mode,\n"
          "               uid, owner, gid, group, shmkit, check, kind,\n"
          "               format_version, data_offset, data_size, creator_pid,\n"
          "               creator_alive, created_unix_ns, created, persistent,\n"
          "               hugepages, nattach, attached, stale, and channel:\n"
          "               null, or for a queue, bus or latest {kind,\n"
          "               reliable, multi_producer, capacity, max_msg,\n"
          "               max_readers, messages, bytes, position, writer_pid,\n"
          "               writer_alive, closed, evictions, producer_deaths,\n"
          "               readers: [{pid, alive, position, lag, messages,\n"
          "               lost}]}\n"
          "  -h, --help   show this help\n"
          "\n"
          "examples:\n"
          "  shmkit info telemetry\n"
          "  shmkit info sysv:0x1234 --json\n"
          "\n", stdout);
    fputs(CLI_HELP_EXIT_CODES, stdout);
}

static void info_json(const shmkit_segment_info_t *in)
{
    cli_json_t j;
    char buf[64];

    cli_json_init(&j, stdout);
    cli_json_begin_object(&j, NULL);
    json_common(&j, in);
    if (header_known(in)) {
        cli_json_uint(&j, "format_version", in->format_version);
        cli_json_uint(&j, "data_offset", in->data_offset);
        cli_json_uint(&j, "data_size", in->data_size);
        cli_json_int(&j, "creator_pid", in->creator_pid);
        if (in->creator_alive < 0)
            cli_json_null(&j, "creator_alive");
        else
            cli_json_bool(&j, "creator_alive", in->creator_alive);
        cli_json_uint(&j, "created_unix_ns", in->created_unix_ns);
        cli_json_string(&j, "created",
                        in->created_unix_ns
                            ? cli_format_time_ns(in->created_unix_ns, buf,
                                                 sizeof buf)
                            : NULL);
        cli_json_bool(&j, "persistent", in->persistent);
        cli_json_bool(&j, "hugepages", in->hugepages);
    } else {
        static const char *nulls[] = {
            "format_version", "data_offset", "data_size", "creator_pid",
            "creator_alive", "created_unix_ns", "created", "persistent",
            "hugepages"};
        for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
            cli_json_null(&j, nulls[i]);
    }
    if (header_known(in) && cli_kind_is_channel(in->kind)) {
        shmkit_channel_stat_t *st = calloc(1, sizeof *st);
        if (st && shmkit_channel_stat(in->name, st) == 0)
            cli_channel_stat_json(&j, "channel", st);
        else
            cli_json_null(&j, "channel");
        free(st);
    } else {
        cli_json_null(&j, "channel");
    }
    cli_json_end_object(&j);
    cli_json_finish(&j);
}

static void info_text(const shmkit_segment_info_t *in)
{
    char name[300], sz[16], mode[8], user[64], group[64], when[64];
    int n = in->nattached_listed;

    cli_safe_copy(name, sizeof name, in->name);
    printf("name:            %s\n", name);
    printf("backend:         %s\n", shmkit_backend_name(in->backend));
    printf("size:            %s (%llu bytes)\n",
           cli_format_size(in->size, sz, sizeof sz),
           (unsigned long long)in->size);
    printf("mode:            %s\n", cli_format_mode(in->mode, mode, sizeof mode));
    printf("owner:           %s (uid %lu), group %s (gid %lu)\n",
           cli_user_name(in->uid, user, sizeof user), (unsigned long)in->uid,
           cli_group_name(in->gid, group, sizeof group),
           (unsigned long)in->gid);
    if (!header_known(in)) {
        if (in->nattach >= 0)
            printf("attached:        %d\n", in->nattach);
        if (in->stale)
            printf("stale:           yes (every process is gone; "
                   "'shmkit gc' removes it)\n");
        return;
    }
    printf("format_version:  %u\n", in->format_version);
    printf("kind:            %s\n", shmkit_kind_name(in->kind));
    printf("data_offset:     %llu\n", (unsigned long long)in->data_offset);
    printf("data_size:       %llu (%s)\n", (unsigned long long)in->data_size,
           cli_format_size(in->data_size, sz, sizeof sz));
    printf("creator_pid:     %lld (%s)\n", (long long)in->creator_pid,
           cli_alive_word(in->creator_alive));
    printf("created:         %s\n",
           cli_format_time_ns(in->created_unix_ns, when, sizeof when));
    printf("persistent:      %s\n",
           in->persistent ? "yes (never stale; remove it with 'shmkit rm')"
                          : "no (the last process to close it removes it)");
    printf("hugepages:       %s\n", in->hugepages ? "yes" : "no");
    if (in->nattach < 0)
        printf("attached:        unknown\n");
    else
        printf("attached:        %d\n", in->nattach);
    if (n > SHMKIT_MAX_ATTACH)
        n = SHMKIT_MAX_ATTACH;
    for (int i = 0; i < n; i++) {
        const shmkit_attachee_t *a = &in->attached[i];
        printf("  pid %-10lld %s", (long long)a->pid, cli_alive_word(a->alive));
        if (a->role)
            printf("  role %u", a->role);
        putchar('\n');
    }
    printf("stale:           %s\n",
           in->stale ? "yes (every process is gone; 'shmkit gc' removes it)"
                     : "no");
    if (cli_kind_is_channel(in->kind)) {
        shmkit_channel_stat_t *st = calloc(1, sizeof *st);
        int rc = st ? shmkit_channel_stat(in->name, st) : -ENOMEM;
        if (rc == 0)
            cli_channel_stat_text(stdout, st);
        else
            printf("channel:         counters unreadable: %s\n",
                   shmkit_strerror(rc));
        free(st);
    }
}

int cli_cmd_info(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    shmkit_segment_info_t *in;
    const char *name;
    int json = 0, c, rc, check;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":jh", lopts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h': info_help(); return CLI_EXIT_OK;
        default: return cli_bad_option("info", info_usage, argv, c);
        }
    }
    int rc_name = cli_one_name("info", info_usage, argc, argv, &name);
    if (rc_name != 0)
        return rc_name;

    in = calloc(1, sizeof *in);
    if (in == NULL)
        return cli_error(NULL, "out of memory");
    shmkit_clear_error();
    rc = shmkit_segment_inspect(name, in);
    if (rc < 0) {
        free(in);
        if (is_check_code(rc))
            return not_usable(name, rc, 0);
        return cli_lib_error(rc, name,
                             rc == -ENOENT ? "'shmkit ls' lists the segments "
                                             "that exist"
                                           : NULL);
    }
    if (json)
        info_json(in);
    else
        info_text(in);
    check = info_check(in);
    if (check) {
        fflush(stdout); /* what is known comes before the error */
        if (check <= SHMKIT_E_LAST && check >= SHMKIT_E_FIRST)
            rc = not_usable(name, check, in->stale);
        else
            rc = unreadable(name, in, check);
    } else {
        rc = CLI_EXIT_OK;
    }
    free(in);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* create                                                                   */
/* ------------------------------------------------------------------------ */

static const char create_usage[] =
    "shmkit create NAME --size SIZE [--mode OCTAL] [--group G] [--huge] "
    "[--lock] [--prefault]\n"
    "       shmkit create NAME --kind queue|bus|latest --capacity SIZE "
    "[--max-msg SIZE] [--max-readers N] [--reliable] [--multi-producer] "
    "[--mode OCTAL] [--group G]";

static void create_help(void)
{
    fputs("usage: shmkit create NAME --size SIZE [--mode OCTAL] [--group G]\n"
          "                         [--huge] [--lock] [--prefault]\n"
          "       shmkit create NAME --kind queue|bus|latest --capacity SIZE\n"
          "                         [--max-msg SIZE] [--max-readers N]\n"
          "                         [--reliable] [--multi-producer]\n"
          "                         [--mode OCTAL] [--group G]\n"
          "\n"
          "Creates a raw shmkit segment with SIZE bytes of data (rounded up\n"
          "to a page) after its header, or, with --kind, a channel.  Either\n"
          "is persistent: it stays until 'shmkit rm NAME' removes it, and gc\n"
          "never touches it.  Creation is exclusive: an existing NAME is an\n"
          "error.  The backing store is reserved now, so a full /dev/shm\n"
          "fails here, not later with SIGBUS.  Prints the name as 'shmkit ls'\n"
          "shows it.\n"
          "\n"
          "Channels ('shmkit pub' and 'shmkit sub' use them):\n"
          "  queue    FIFO: each message goes to one consumer; one producer,\n"
          "           or many with --multi-producer\n"
          "  bus      one writer, many readers, each sees every message;\n"
          "           lossy (the writer never waits; a reader a whole ring\n"
          "           behind loses messages) or --reliable (the writer waits\n"
          "           for the slowest live reader)\n"
          "  latest   one value; readers always get the newest\n"
          "\n"
          "NAME: NAME or /NAME (POSIX, /dev/shm), sysv:KEY, sysv:ftok=PATH:ID,\n"
          "sysv:private (raw segments only; prints the sysv:id=SHMID it got),\n"
          "file:PATH.\n"
          "\n"
          "options:\n"
          "  -s, --size SIZE       raw segment: data bytes, a number with an\n"
          "                        optional K, M, G or T suffix (powers of\n"
          "                        1024; KiB, MB, k also accepted)\n"
          "  -k, --kind K          raw (the default), queue, bus or latest\n"
          "  -c, --capacity SIZE   channel: ring bytes, rounded up to a power\n"
          "                        of two (at least 4K, at most 1G); latest:\n"
          "                        the largest value\n"
          "      --max-msg SIZE    channel: largest message, default a quarter\n"
          "                        of the capacity (at most half of it,\n"
          "                        less 16 bytes)\n"
          "      --max-readers N   bus: readers at a time, default 64, at most\n"
          "                        120\n"
          "      --reliable        bus: the writer waits for the slowest reader\n"
          "      --multi-producer  queue: many producers at once\n"
          "  -m, --mode OCTAL      permission bits, default 0600\n"
          "  -g, --group G         hand the segment to group G (name or number);\n"
          "                        use with --mode 0660 to share with the group\n"
          "      --huge            back it with huge pages (sysv: names, or\n"
          "                        file:PATH on a hugetlbfs mount); an error when\n"
          "                        none are free\n"
          "      --lock            pin it in RAM with SHM_LOCK (sysv: names only)\n"
          "      --prefault        touch every page now (channels always do)\n"
          "  -h, --help            show this help\n"
          "\n"
          "examples:\n"
          "  shmkit create frames --size 64M --mode 0660 --group video\n"
          "  shmkit create sysv:0x1234 --size 2M --huge --lock\n"
          "  shmkit create file:/dev/hugepages/frames --size 1G --huge\n"
          "  shmkit create jobs --kind queue --capacity 16M --multi-producer\n"
          "  shmkit create ticks --kind bus --capacity 64M --max-msg 64K\n"
          "  shmkit create pose --kind latest --capacity 256\n"
          "\n", stdout);
    fputs(CLI_HELP_EXIT_CODES, stdout);
}

enum {
    OPT_HUGE = 256,
    OPT_LOCK,
    OPT_PREFAULT,
    OPT_MAX_MSG,
    OPT_MAX_READERS,
    OPT_RELIABLE,
    OPT_MULTI,
};

static const char *size_problem(int rc)
{
    return rc == -ERANGE ? "must be between 1 and 2^64-1 bytes"
                         : "is not a size (a number with an optional K, M, "
                           "G or T suffix)";
}

/* create --kind queue|bus|latest: a persistent channel. */
static int create_channel(const char *name, const shmkit_channel_opts_t *co)
{
    shmkit_channel_stat_t *st;
    char sz[16], sz2[16], mode[8], safe[300];
    int rc;

    cli_safe_copy(safe, sizeof safe, name);
    shmkit_clear_error();
    rc = shmkit_channel_create(name, co);
    if (rc < 0) {
        int x = cli_lib_error(rc, name,
                              rc == -EEXIST ? "'shmkit info NAME' shows it; "
                                              "'shmkit rm NAME' removes it"
                                            : NULL);
        /* the library refused the options given: that is bad usage */
        return rc == -EINVAL ? CLI_EXIT_USAGE : x;
    }
    /* the name as 'shmkit ls' prints it (a POSIX name gains its '/') */
    shmkit_segment_info_t *in = calloc(1, sizeof *in);
    if (in != NULL && shmkit_segment_inspect(name, in) == 0)
        cli_safe_copy(safe, sizeof safe, in->name);
    free(in);
    st = calloc(1, sizeof *st);
    if (st == NULL || shmkit_channel_stat(name, st) != 0) {
        printf("created %s (%s)\n", safe, shmkit_kind_name(co->kind));
        free(st);
        return CLI_EXIT_OK;
    }
    printf("created %s (%s%s, capacity %s, max message %s, mode %s)\n", safe,
           shmkit_kind_name(st->kind),
           st->kind == SHMKIT_KIND_BUS
               ? (st->reliable ? " reliable" : " lossy")
               : st->multi_producer ? " multi-producer" : "",
           cli_format_size(st->capacity, sz, sizeof sz),
           cli_format_size(st->max_msg, sz2, sizeof sz2),
           cli_format_mode(co->seg.mode, mode, sizeof mode));
    free(st);
    return CLI_EXIT_OK;
}

int cli_cmd_create(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"size", required_argument, NULL, 's'},
        {"mode", required_argument, NULL, 'm'},
        {"group", required_argument, NULL, 'g'},
        {"huge", no_argument, NULL, OPT_HUGE},
        {"lock", no_argument, NULL, OPT_LOCK},
        {"prefault", no_argument, NULL, OPT_PREFAULT},
        {"kind", required_argument, NULL, 'k'},
        {"capacity", required_argument, NULL, 'c'},
        {"max-msg", required_argument, NULL, OPT_MAX_MSG},
        {"max-readers", required_argument, NULL, OPT_MAX_READERS},
        {"reliable", no_argument, NULL, OPT_RELIABLE},
        {"multi-producer", no_argument, NULL, OPT_MULTI},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    shmkit_segment_opts_t o;
    shmkit_segment_t *seg = NULL;
    shmkit_channel_opts_t co;
    shmkit_kind_t kind = SHMKIT_KIND_RAW;
    const char *name, *chan_only = NULL;
    shmkit_backend_t backend;
    int have_size = 0, have_capacity = 0, reliable = 0;
    int multi = 0, c, rc;
    uint64_t size = 0, capacity = 0, max_msg = 0, max_readers = 0;
    char sz[16], mode[8], cname[300];

    shmkit_segment_opts_init(&o);
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":s:m:g:k:c:h", lopts, NULL)) != -1) {
        switch (c) {
        case 's':
            rc = cli_parse_size(optarg, &size);
            if (rc < 0)
                return cli_usage_error("create", create_usage,
                                       "examples: 4096, 64K, 16M, 2GiB",
                                       "--size '%s' %s", optarg,
                                       size_problem(rc));
            have_size = 1;
            break;
        case 'm':
            if (cli_parse_mode(optarg, &o.mode) < 0)
                return cli_usage_error("create", create_usage,
                                       "examples: 0600 (owner only), 0660 "
                                       "(owner and group), 0666 (everyone)",
                                       "--mode '%s' is not an octal mode "
                                       "between 0000 and 0777", optarg);
            break;
        case 'g':
            if (cli_lookup_group(optarg, &o.gid) < 0)
                return cli_usage_error("create", create_usage,
                                       "'getent group' lists the groups; a "
                                       "numeric gid is accepted too",
                                       "--group '%s': no such group", optarg);
            break;
        case OPT_HUGE: o.hugepages = 1; break;
        case OPT_LOCK: o.lock = 1; break;
        case OPT_PREFAULT: o.prefault = 1; break;
        case 'k':
            if (cli_parse_kind(optarg, &kind) < 0)
                return cli_usage_error("create", create_usage, NULL,
                                       "--kind '%s' is not one of raw, queue, "
                                       "bus, latest", optarg);
            break;
        case 'c':
            rc = cli_parse_size(optarg, &capacity);
            if (rc < 0)
                return cli_usage_error("create", create_usage,
                                       "examples: 64K, 16M, 1G",
                                       "--capacity '%s' %s", optarg,
                                       size_problem(rc));
            have_capacity = 1;
            break;
        case OPT_MAX_MSG:
            rc = cli_parse_size(optarg, &max_msg);
            if (rc < 0 || max_msg > UINT32_MAX)
                return cli_usage_error("create", create_usage,
                                       "examples: 4K, 1M",
                                       "--max-msg '%s' %s", optarg,
                                       rc < 0 ? size_problem(rc)
                                              : "must be below 4 GiB");
            chan_only = "--max-msg";
            break;
        case OPT_MAX_READERS:
            if (cli_parse_uint(optarg, 1, SHMKIT_MAX_READERS, &max_readers) < 0)
                return cli_usage_error("create", create_usage, NULL,
                                       "--max-readers '%s' is not a number "
                                       "from 1 to %d", optarg,
                                       SHMKIT_MAX_READERS);
            chan_only = "--max-readers";
            break;
        case OPT_RELIABLE: reliable = 1; chan_only = "--reliable"; break;
        case OPT_MULTI: multi = 1; chan_only = "--multi-producer"; break;
        case 'h': create_help(); return CLI_EXIT_OK;
        default: return cli_bad_option("create", create_usage, argv, c);
        }
    }
    int rc_name = cli_one_name("create", create_usage, argc, argv, &name);
    if (rc_name != 0)
        return rc_name;
    backend = cli_name_backend(name);
    if (backend == SHMKIT_BACKEND_MEMFD || backend == SHMKIT_BACKEND_ANON)
        return cli_usage_error("create", create_usage,
                               "memfd: and anon: segments live only as long "
                               "as the process that made them; use a POSIX, "
                               "sysv: or file: name",
                               "cannot create '%s' from the command line",
                               name);
    if (o.lock && backend != SHMKIT_BACKEND_SYSV)
        return cli_usage_error("create", create_usage,
                               "--lock pins a SysV segment with SHM_LOCK; "
                               "posix/file segments are locked by the process "
                               "that maps them (shmkit_segment_opts.lock)",
                               "--lock works only with sysv: names");
    if (o.hugepages && backend == SHMKIT_BACKEND_POSIX)
        return cli_usage_error("create", create_usage,
                               "POSIX shm lives on tmpfs, which has no huge "
                               "pages; use a sysv: name, or "
                               "file:/dev/hugepages/NAME on a hugetlbfs mount",
                               "--huge does not work with POSIX names");

    if (cli_kind_is_channel(kind)) {
        if (have_size)
            return cli_usage_error("create", create_usage,
                                   "a channel's size is its --capacity",
                                   "--size is for raw segments, not --kind "
                                   "%s", shmkit_kind_name(kind));
        if (!have_capacity)
            return cli_usage_error("create", create_usage,
                                   "e.g. 'shmkit create NAME --kind queue "
                                   "--capacity 4M'",
                                   "--kind %s needs --capacity SIZE",
                                   shmkit_kind_name(kind));
        if (reliable && kind != SHMKIT_KIND_BUS)
            return cli_usage_error("create", create_usage, NULL,
                                   "--reliable is for --kind bus");
        if (max_readers && kind != SHMKIT_KIND_BUS)
            return cli_usage_error("create", create_usage, NULL,
                                   "--max-readers is for --kind bus");
        if (multi && kind != SHMKIT_KIND_QUEUE)
            return cli_usage_error("create", create_usage, NULL,
                                   "--multi-producer is for --kind queue");
        if (strcmp(name, "sysv:private") == 0)
            return cli_usage_error("create", create_usage,
                                   "use sysv:KEY, a POSIX or a file: name",
                                   "a sysv:private channel could not be "
                                   "opened by anyone");
        shmkit_channel_opts_init(&co, kind);
        co.capacity = capacity;
        co.max_msg = (uint32_t)max_msg;
        if (max_readers)
            co.max_readers = (uint32_t)max_readers;
        co.reliable = reliable;
        co.multi_producer = multi;
        co.seg.mode = o.mode;
        co.seg.gid = o.gid;
        co.seg.hugepages = o.hugepages;
        co.seg.lock = o.lock;
        co.seg.persistent = 1;
        return create_channel(name, &co);
    }

    if (have_capacity)
        return cli_usage_error("create", create_usage,
                               "raw segments take --size; --capacity is for "
                               "channels (--kind)",
                               "--capacity needs --kind queue|bus|latest");
    if (chan_only)
        return cli_usage_error("create", create_usage, NULL,
                               "%s is for channels (--kind queue|bus|latest)",
                               chan_only);
    if (!have_size)
        return cli_usage_error("create", create_usage,
                               "e.g. 'shmkit create NAME --size 1M', or a "
                               "channel: 'shmkit create NAME --kind queue "
                               "--capacity 4M'",
                               "missing --size");

    o.size = size;
    o.exclusive = 1;
    o.persistent = 1;
    o.kind = SHMKIT_KIND_RAW;
    shmkit_clear_error();
    rc = shmkit_segment_create(name, &o, &seg);
    if (rc < 0)
        return cli_lib_error(rc, name,
                             rc == -EEXIST ? "'shmkit info NAME' shows it; "
                                             "'shmkit rm NAME' removes it"
                                           : NULL);
    cli_safe_copy(cname, sizeof cname, shmkit_segment_name(seg));
    printf("created %s (%llu bytes of data, %s, mode %s)\n", cname,
           (unsigned long long)shmkit_segment_data_size(seg),
           cli_format_size(shmkit_segment_data_size(seg), sz, sizeof sz),
           cli_format_mode(o.mode, mode, sizeof mode));
    rc = shmkit_segment_close(seg);
    if (rc < 0)
        return cli_lib_error(rc, "closing the new segment", NULL);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* rm                                                                       */
/* ------------------------------------------------------------------------ */

static const char rm_usage[] = "shmkit rm [-f] NAME...";

static void rm_help(void)
{
    fputs("usage: shmkit rm [-f] NAME...\n"
          "\n"
          "Removes each named segment, shmkit's or not (but a file: PATH\n"
          "only when it is a shmkit segment).  Processes that have it mapped\n"
          "keep their mapping until they close it; the name is gone at once.\n"
          "Goes on after an error and exits 1 if any NAME failed (2 if one\n"
          "is not a name at all).\n"
          "\n"
          "NAME: as 'shmkit ls' prints it: NAME or /NAME (POSIX), sysv:KEY,\n"
          "sysv:id=SHMID, file:PATH.\n"
          "\n"
          "options:\n"
          "  -f, --force  a NAME that does not exist is not an error\n"
          "  -h, --help   show this help\n"
          "\n"
          "examples:\n"
          "  shmkit rm frames sysv:0x1234\n"
          "  shmkit ls --json | jq -r '.[] | select(.shmkit) | .name' | "
          "xargs shmkit rm\n"
          "\n", stdout);
    fputs(CLI_HELP_EXIT_CODES, stdout);
}

/* rm file:PATH removes a shmkit segment, never any other file that the
 * path happens to name: 1 (and an error) when PATH is a file without
 * shmkit's magic.  A missing file is left to unlink (ENOENT, -f). */
static int refuse_foreign_file(const char *name)
{
    shmkit_segment_info_t *in = calloc(1, sizeof *in);
    if (!in)
        return cli_error(NULL, "out of memory"), 1;
    int rc = shmkit_segment_inspect(name, in);
    /* removable: a file with shmkit's magic (a damaged segment too) */
    int ours = rc == 0 && in->check != SHMKIT_E_NOT_SHMKIT &&
               in->check != -EACCES && in->check != -EPERM;
    free(in);
    if (ours || rc == -ENOENT) { /* a missing one: unlink says so (-f) */
        shmkit_clear_error();
        return 0;
    }
    char safe[300];
    cli_safe_copy(safe, sizeof safe, name);
    if (rc < 0 && shmkit_last_error()[0])
        fprintf(stderr, "shmkit: error: %s\n", shmkit_last_error());
    cli_error("shmkit rm removes shmkit segments; delete other files with "
              "rm(1)",
              "%s is not a shmkit segment%s: not removed", safe,
              rc < 0 ? " (or cannot be read)" : " (no shmkit magic)");
    shmkit_clear_error();
    return 1;
}

int cli_cmd_rm(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int force = 0, failed = 0, c, rc;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":fh", lopts, NULL)) != -1) {
        switch (c) {
        case 'f': force = 1; break;
        case 'h': rm_help(); return CLI_EXIT_OK;
        default: return cli_bad_option("rm", rm_usage, argv, c);
        }
    }
    if (optind >= argc)
        return cli_usage_error("rm", rm_usage, NULL, "missing NAME");
    for (int i = optind; i < argc; i++) {
        shmkit_clear_error();
        if (strncmp(argv[i], "file:", 5) == 0 && refuse_foreign_file(argv[i])) {
            failed = failed ? failed : CLI_EXIT_ERROR;
            continue;
        }
        rc = shmkit_segment_unlink(argv[i]);
        if (rc == -ENOENT && force)
            continue;
        if (rc < 0) {
            int x = cli_lib_error(rc, argv[i],
                                  rc == -ENOENT ? "'shmkit ls' lists the "
                                                  "segments that exist"
                                                : NULL);
            /* a name that cannot be parsed is bad usage (2), as for info */
            if (x == CLI_EXIT_USAGE || !failed)
                failed = x;
        }
    }
    return failed;
}

/* ------------------------------------------------------------------------ */
/* gc                                                                       */
/* ------------------------------------------------------------------------ */

static const char gc_usage[] = "shmkit gc [--dry-run]";

static void gc_help(void)
{
    fputs("usage: shmkit gc [--dry-run]\n"
          "\n"
          "Removes stale shmkit segments, and only those: owned (not\n"
          "persistent) segments whose creator and every attached process are\n"
          "gone.  It locks each one and checks again before removing it, so\n"
          "it never races with a process attaching.  Foreign segments,\n"
          "persistent ones and any with a live or unknown process are left\n"
          "alone.  Prints one line per segment, then a count.\n"
          "\n"
          "options:\n"
          "  -n, --dry-run  only print what would be removed\n"
          "  -h, --help     show this help\n"
          "\n"
          "examples:\n"
          "  shmkit gc --dry-run\n"
          "  shmkit gc\n"
          "\n", stdout);
    fputs(CLI_HELP_EXIT_CODES, stdout);
}

static void gc_cb(const shmkit_segment_info_t *in, void *ctx)
{
    const int *dry = ctx;
    char name[300], sz[16];
    cli_safe_copy(name, sizeof name, in->name);
    printf("%s %s (%s, %s)\n", *dry ? "would remove" : "removed", name,
           cli_format_size(in->size, sz, sizeof sz), kind_or_dash(in));
}

int cli_cmd_gc(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int dry = 0, c, rc;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":nh", lopts, NULL)) != -1) {
        switch (c) {
        case 'n': dry = 1; break;
        case 'h': gc_help(); return CLI_EXIT_OK;
        default: return cli_bad_option("gc", gc_usage, argv, c);
        }
    }
    if (optind < argc)
        return cli_usage_error("gc", gc_usage, NULL,
                               "unexpected argument '%s'", argv[optind]);
    shmkit_clear_error();
    rc = shmkit_gc(dry, gc_cb, &dry);
    if (rc < 0)
        return cli_lib_error(rc, "gc", NULL);
    printf("%d stale segment%s %s\n", rc, rc == 1 ? "" : "s",
           dry ? "would be removed (dry run)" : "removed");
    return CLI_EXIT_OK;
}
