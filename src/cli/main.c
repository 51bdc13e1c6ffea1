/*
 * main.c - `shmkit`: the command table and the dispatcher.
 *
 * To add a command, add one line to `commands` below and write its function
 * in the file of its group (see cli.h).  The order of the table is the order
 * of `shmkit --help`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const cli_command_t commands[] = {
    {"ls", cli_cmd_ls, "list POSIX and SysV segments, shmkit's and others'"},
    {"info", cli_cmd_info, "show a segment's header, attached processes, channel counters"},
    {"create", cli_cmd_create, "create a persistent segment or channel"},
    {"rm", cli_cmd_rm, "remove segments"},
    {"gc", cli_cmd_gc, "remove stale shmkit segments, and only those"},
    {"doctor", cli_cmd_doctor, "check /dev/shm, memlock, huge pages, SysV limits"},
    {"pub", cli_cmd_pub, "publish stdin on a channel, then close it"},
    {"sub", cli_cmd_sub, "write a channel's messages to stdout"},
    {"top", cli_cmd_top, "live view of every channel: rates, readers, lag, losses"},
    {"bench", cli_cmd_bench, "the benchmark suite: latency and throughput"},
    {"demo", cli_cmd_demo, "a live demo: a telemetry bus, three subscribers"},
    {"help", cmd_help, "show help for a command"},
    {"version", cmd_version, "print the version"},
    /* hidden */
    {"demo-sub", cli_cmd_demo_sub, NULL},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const cli_command_t *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_main_help(FILE *f)
{
    fputs("usage: shmkit COMMAND [OPTIONS] [ARGS]\n"
          "       shmkit --help | --version\n"
          "\n"
          "shmkit manages shared-memory segments on one Linux host: lists\n"
          "them with their owners and attached processes, creates and removes\n"
          "them, removes stale ones, and checks the host's limits.  Its\n"
          "channels (queue, bus, latest) carry messages between processes\n"
          "through shared memory: pub and sub connect them to pipes.\n"
          "\n"
          "commands:\n", f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i].summary)
            fprintf(f, "  %-8s  %s\n", commands[i].name, commands[i].summary);
    fputs("\n"
          "names pick the backend:\n"
          "  NAME or /NAME        POSIX shared memory, under /dev/shm\n"
          "  sysv:KEY             SysV, KEY decimal or 0x hex\n"
          "  sysv:id=SHMID        SysV, by id (as `shmkit ls` prints it)\n"
          "  sysv:ftok=PATH:ID    SysV, key from ftok(PATH, ID)\n"
          "  file:PATH            a mapped file (hugetlbfs too)\n"
          "\n"
          "examples:\n"
          "  shmkit demo\n"
          "  shmkit ls\n"
          "  shmkit create frames --size 64M --mode 0660 --group video\n"
          "  shmkit info frames --json\n"
          "  shmkit rm frames\n"
          "  shmkit create jobs --kind queue --capacity 16M\n"
          "  shmkit pub jobs --lines < jobs.txt &  shmkit sub jobs --lines\n"
          "  shmkit top\n"
          "\n"
          "Run 'shmkit COMMAND --help' for a command's options.\n"
          "\n", f);
    fputs(CLI_HELP_EXIT_CODES, f);
}

static int cmd_help(int argc, char **argv)
{
    const cli_command_t *c;
    char *sub[3];

    if (argc < 2) {
        print_main_help(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs("usage: shmkit help [COMMAND]\n\n"
              "Shows the help of COMMAND, or the list of commands.\n\n"
              "examples:\n  shmkit help create\n\n", stdout);
        fputs(CLI_HELP_EXIT_CODES, stdout);
        return CLI_EXIT_OK;
    }
    if (argc > 2)
        return cli_usage_error("help", "shmkit help [COMMAND]", NULL,
                               "too many arguments");
    c = find_command(argv[1]);
    if (c == NULL)
        return cli_usage_error("help", "shmkit help [COMMAND]",
                               "'shmkit --help' lists the commands",
                               "unknown command '%s'", argv[1]);
    if (c->fn == cmd_help)
        return cmd_help(1, argv);
    sub[0] = argv[1];
    sub[1] = (char *)"--help";
    sub[2] = NULL;
    return c->fn(2, sub);
}

static int cmd_version(int argc, char **argv)
{
    (void)argv;
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 ||
                     strcmp(argv[1], "--help") == 0)) {
        fputs("usage: shmkit version\n\nPrints \"shmkit X.Y.Z\", the "
              "version of the library it is built with.\n\n", stdout);
        fputs(CLI_HELP_EXIT_CODES, stdout);
        return CLI_EXIT_OK;
    }
    if (argc > 1)
        return cli_usage_error("version", "shmkit version", NULL,
                               "takes no arguments");
    printf("shmkit %s\n", shmkit_version());
    return CLI_EXIT_OK;
}

unsigned cli_closed_stdio;

/*
 * Started with stdin, stdout or stderr closed (`shmkit sub C >&-`), we would
 * open something there and then write our output or our errors into it:
 * the library keeps its own fds above 2, and here /dev/null takes each free
 * one.  Which ones were closed is remembered: sub refuses a closed stdout
 * and pub a closed stdin, before they take or send anything.
 */
static void fill_closed_stdio(void)
{
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (n >= 0 && n != fd) { /* not the lowest free fd: put it there */
            dup2(n, fd);
            close(n);
        }
        cli_closed_stdio |= 1u << fd;
    }
}

int main(int argc, char **argv)
{
    const cli_command_t *c;
    const char *name;
    int rc;

    fill_closed_stdio();

    if (argc < 2) {
        fputs("usage: shmkit COMMAND [OPTIONS] [ARGS]\n"
              "try 'shmkit --help'\n", stderr);
        return CLI_EXIT_USAGE;
    }
    name = argv[1];
    /* --help [COMMAND] and --version as the commands help and version,
     * their arguments included */
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        rc = cmd_help(argc - 1, argv + 1);
        goto out; /* what is printed must be written, as for any command */
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        rc = cmd_version(argc - 1, argv + 1);
        goto out;
    }
    if (name[0] == '-')
        return cli_usage_error(NULL, "shmkit COMMAND [OPTIONS] [ARGS]", NULL,
                               "unknown option '%s'", name);
    c = find_command(name);
    if (c == NULL)
        return cli_usage_error(NULL, "shmkit COMMAND [OPTIONS] [ARGS]",
                               "'shmkit --help' lists the commands",
                               "unknown command '%s'", name);

    rc = c->fn(argc - 1, argv + 1);

out:
    /* A full disk or a closed pipe must not pass for success. */
    errno = 0;
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == CLI_EXIT_OK) {
        if (errno == EPIPE) /* the reader went away: nothing to tell it */
            rc = CLI_EXIT_ERROR;
        else
            rc = cli_error(NULL, "writing to stdout failed%s%s",
                           errno ? ": " : "", errno ? strerror(errno) : "");
    }
    return rc;
}
