/*
 * afx_main.c: the `afx` command-line tool. Dispatches to one subcommand; each command lives in its own
 * file (commands.h) and owns its options, help and exit codes.
 *
 *   afx extract [options] INPUT... -o OUTDIR     features of audio files (extract.c)
 *   afx serve [options]                          the feature service (../serve/serve_cmd.c)
 *   afx --help | --version
 */
#include <stdio.h>
#include <string.h>

#include "afx.h"
#include "commands.h"

enum { EXIT_USAGE = 2 };

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command's name */
    const char *summary;
} command;

static const command COMMANDS[] = {
    {"extract", afx_cmd_extract, "compute features of audio files into a folder"},
#ifdef AFX_HAVE_SERVE
    {"serve", afx_cmd_serve, "serve features over HTTP (simple API and KServe v2, dynamic batching)"},
#endif
};
#define N_COMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static void print_commands(FILE *f)
{
    fprintf(f, "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f, "Run 'afx COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        afx_extract_print_usage(stderr);
        print_commands(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        afx_extract_print_help(stdout);
        fputc('\n', stdout);
        print_commands(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("%s\n", afx_version_string());
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(cmd, COMMANDS[i].name) == 0)
            return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "afx: unknown command '%s'\n", cmd);
    afx_extract_print_usage(stderr);
    print_commands(stderr);
    return EXIT_USAGE;
}
