/*
 * options.h: command-line options of the afx tool, as tables.
 *
 * Every option is a row of a table: its long name, optional short letter, value placeholder, help text
 * and what it does. The afx_params options (one per field a user sets: --n-fft, --window, --preset, ...)
 * are one table shared by every command that computes features; a command adds its own table
 * (OPT_COMMAND rows, handled by the command's callback). Parsing, --help and the defaults shown in it all
 * come from the tables and from afx_params_init(), so no default is written twice.
 *
 * Messages go to stderr with the "afx: " prefix; parsing never exits.
 */
#ifndef AFX_CLI_OPTIONS_H
#define AFX_CLI_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "afx.h"

typedef enum cli_opt_kind {
    OPT_HEADING,   /* not an option: a section title in --help */
    OPT_INT,       /* int field of afx_params = parsed integer */
    OPT_FLOAT,     /* float field = parsed finite number */
    OPT_ENUM,      /* enum field = value of the word */
    OPT_SET_INT,   /* flag: int field = set_value */
    OPT_SET_FLOAT, /* flag: float field = set_value */
    OPT_SEED,      /* dither_seed = mask_seed = parsed unsigned 64-bit integer */
    OPT_PRESET,    /* --preset NAME: afx_params_preset before every other option */
    OPT_HELP,      /* -h, --help */
    OPT_COMMAND    /* the command's own option: given to its callback with `id` */
} cli_opt_kind;

typedef struct cli_option {
    cli_opt_kind kind;
    const char *name;        /* long name without "--" (heading text for OPT_HEADING) */
    const char *field;       /* name of the afx_params field it sets (NULL if none) */
    int short_name;          /* single-letter alias or 0 */
    size_t offset;           /* field of afx_params */
    afx_enum_kind enum_kind; /* OPT_ENUM: whose names (afx_enum_name) the option accepts */
    int enum_limit;          /* OPT_ENUM: accept only values below this (0: every value) */
    double set_value;        /* OPT_SET_INT / OPT_SET_FLOAT */
    const char *metavar;     /* value placeholder in --help (NULL: a flag); enums list their words */
    const char *help;
    int id;                  /* OPT_COMMAND: the command's identifier of the option */
    const char *default_text;/* OPT_COMMAND: default shown in --help (NULL: none) */
} cli_option;

/* The afx_params options, in --help order (headings included). */
const cli_option *afx_cli_param_options(size_t *count);

/*
 * Called for each OPT_COMMAND option in command-line order (after the preset is applied), with its value
 * (NULL for a flag). Returns 0, or -1 after printing why the value is refused.
 */
typedef int (*cli_command_fn)(void *ctx, const cli_option *o, const char *arg);

/*
 * Parses argv (argv[0] is the command's name) against the command's table `cmd` and the afx_params table,
 * filling *p (start from afx_params_init) and calling `fn` for the command's options. The preset (--preset
 * with the --feature found anywhere on the line) is applied first; every other option overrides it in
 * order. On success *first_operand is the index in argv of the first operand. Returns 0 on success, 1 when
 * --help was given (nothing else done), -1 after printing an error.
 */
int afx_cli_parse(int argc, char **argv, const cli_option *cmd, size_t n_cmd, afx_params *p, cli_command_fn fn,
                  void *ctx, int *first_operand);

/* Prints the options of a table, one line each, "  -o, --output DIR   help (default: x)", with headings. */
void afx_cli_print_options(FILE *f, const cli_option *opts, size_t n);

/*
 * Long option of the afx_params field a library message starts with ("n_fft=0 must be ..." -> "n-fft"), or
 * NULL when the message does not start with a field that an option sets.
 */
const char *afx_cli_option_of_message(const char *msg);

/* Value parsers for command options: 0 on success, else -1 after printing "afx: --OPT: ..." to stderr. */
int afx_cli_parse_int(const char *opt, const char *s, int *out);
int afx_cli_parse_i64(const char *opt, const char *s, int64_t *out);
int afx_cli_parse_u64(const char *opt, const char *s, uint64_t *out);
int afx_cli_parse_seconds(const char *opt, const char *s, double *out); /* finite, >= 0 */

/* Replaces newlines and tabs of a message by spaces so that it prints as one line. */
void afx_cli_one_line(char *msg);

#endif /* AFX_CLI_OPTIONS_H */
