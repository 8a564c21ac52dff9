/*
 * commands.h: the subcommands of the `afx` tool. afx_main.c only dispatches; each command lives in its
 * own file (extract.c, ...) and returns the process exit code (0 ok, 1 some work failed, 2 usage error).
 */
#ifndef AFX_CLI_COMMANDS_H
#define AFX_CLI_COMMANDS_H

#include <stdio.h>

/** `afx extract [options] INPUT... -o OUTDIR` (argv[0] is "extract"). */
int afx_cmd_extract(int argc, char **argv);
/** Usage lines and full option help of `afx extract`. */
void afx_extract_print_usage(FILE *f);
void afx_extract_print_help(FILE *f);

/** `afx serve [options]`: the feature service (host/serve/serve_cmd.c; built when AFX_HAVE_SERVE). */
int afx_cmd_serve(int argc, char **argv);
void afx_serve_print_help(FILE *f);

#endif /* AFX_CLI_COMMANDS_H */
