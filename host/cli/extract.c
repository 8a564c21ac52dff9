/*
 * extract.c: `afx extract`, the feature-extraction command of the `afx` tool (afx_main.c dispatches).
 *
 *   afx extract [options] INPUT... -o OUTDIR
 *
 * Parses the command's options (this file's table) and the afx_params options (options.c), validates the
 * parameters, and runs the corpus job (host/job/job.h): inputs from files, folders, lists and manifests;
 * parallel decode and compute; npy / WebDataset / Kaldi ark / table outputs; index, params.json, report;
 * restartable and sharded.
 *
 * Exit status: 0 every clip done; 1 at least one clip failed (the others are still written, each failure is
 * one line on stderr); 2 usage or setup error (unknown option, bad value, invalid parameters, unavailable
 * backend, unreadable list or manifest, output folder not writable) before any clip is decoded.
 */
#define _GNU_SOURCE

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "afx.h"
#include "commands.h"
#include "job.h"
#include "options.h"
#include "shard.h"

/* Clips per tar or ark file unless --shard-size says otherwise. */
#define DEFAULT_SHARD_SIZE 1000

enum {
    ID_OUTPUT = 1, ID_FORMAT, ID_SHARD_SIZE, ID_FORCE, ID_REPORT, ID_FILES_FROM, ID_MANIFEST, ID_ROOT,
    ID_FIXED_LENGTH, ID_CLIP_SECONDS, ID_MAX_DURATION, ID_JOBS, ID_SHARD, ID_SHARDS, ID_PROGRESS, ID_PROGRESS_EVERY, ID_QUIET
};

#define CMD(n, s, id_, mv, def, h)                                                                          \
    {.kind = OPT_COMMAND, .name = (n), .short_name = (s), .id = (id_), .metavar = (mv), .default_text = (def), \
     .help = (h)}

static const cli_option EXTRACT_OPTIONS[] = {
    {.kind = OPT_HEADING, .name = "Inputs (files, folders, manifests .csv/.tsv/.jsonl, - for standard input)"},
    CMD("files-from", 0, ID_FILES_FROM, "FILE", NULL, "read input paths from FILE, one a line (- = standard input)"),
    CMD("manifest", 0, ID_MANIFEST, "FILE", NULL, "a CSV/TSV/JSONL manifest (path, label, offset, duration, id, ...)"),
    CMD("root", 0, ID_ROOT, "DIR", NULL,
        "output names are paths relative to DIR; a manifest's relative paths resolve against it"),
    CMD("fixed-length", 0, ID_FIXED_LENGTH, "N", "0: off", "pad with zeros or cut every clip to N samples"),
    CMD("clip-seconds", 0, ID_CLIP_SECONDS, "S", "0: off", "same in seconds at --sample-rate (N = round(S * rate))"),
    CMD("max-duration", 0, ID_MAX_DURATION, "S", "14400",
        "refuse a clip longer than S seconds (read from the header before decoding; 0 = no limit)"),

    {.kind = OPT_HEADING, .name = "Outputs"},
    CMD("output", 'o', ID_OUTPUT, "DIR", NULL, "output folder, created if missing (required)"),
    CMD("format", 0, ID_FORMAT, "npy|wds|ark|table", "npy",
        "npy tree, WebDataset tar shards, Kaldi ark+scp, or one [N, D] table (needs --pool)"),
    CMD("shard-size", 0, ID_SHARD_SIZE, "N", "1000", "clips per tar (wds) or ark file"),
    CMD("force", 0, ID_FORCE, NULL, "off", "recompute every output, even those complete from an earlier run"),
    CMD("report", 0, ID_REPORT, "FILE", NULL, "write counts, throughput and the failed clips as JSON"),

    {.kind = OPT_HEADING, .name = "Execution"},
    CMD("jobs", 'j', ID_JOBS, "N", "all cores", "decode and compute threads"),
    CMD("shard", 0, ID_SHARD, "I/N", NULL,
        "process only shard I of N (default: from SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX)"),
    CMD("shards", 0, ID_SHARDS, "N", NULL, "number of shards when the index comes from JOB_COMPLETION_INDEX"),
    CMD("progress", 0, ID_PROGRESS, "auto|bar|lines|none", "auto",
        "auto: a bar on a terminal, else a line every --progress-every seconds"),
    CMD("progress-every", 0, ID_PROGRESS_EVERY, "S", "30", "seconds between progress lines"),
    CMD("quiet", 'q', ID_QUIET, NULL, "off", "no progress and no summary (failures are still printed)"),
    {.kind = OPT_HELP, .name = "help", .short_name = 'h', .help = "show this help and exit"},
};
#define N_EXTRACT_OPTIONS (sizeof EXTRACT_OPTIONS / sizeof EXTRACT_OPTIONS[0])

/* What the options set besides afx_params. */
typedef struct extract_args {
    afx_job_config cfg;
    afx_job_source *sources;
    int n_sources, cap_sources;
    int64_t fixed_length;
    double clip_seconds;
    int shard_given, shards;
} extract_args;

static int add_source(extract_args *a, afx_job_source_kind kind, const char *path)
{
    if (a->n_sources == a->cap_sources) {
        int cap = a->cap_sources ? 2 * a->cap_sources : 16;
        afx_job_source *v = realloc(a->sources, sizeof *v * (size_t)cap);
        if (v == NULL) {
            fprintf(stderr, "afx: out of memory\n");
            return -1;
        }
        a->sources = v;
        a->cap_sources = cap;
    }
    a->sources[a->n_sources++] = (afx_job_source){kind, path};
    return 0;
}

/* An operand is a manifest when its extension says so. */
static afx_job_source_kind operand_kind(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot == NULL || (slash != NULL && dot < slash))
        return AFX_SRC_PATH;
    return (strcmp(dot, ".csv") == 0 || strcmp(dot, ".tsv") == 0 || strcmp(dot, ".jsonl") == 0 ||
            strcmp(dot, ".ndjson") == 0)
               ? AFX_SRC_MANIFEST
               : AFX_SRC_PATH;
}

static int on_option(void *ctx, const cli_option *o, const char *arg)
{
    extract_args *a = ctx;
    afx_job_config *c = &a->cfg;
    switch (o->id) {
    case ID_OUTPUT: c->outdir = arg; return 0;
    case ID_FORMAT: {
        int f = afx_job_format_value(arg);
        if (f < 0) {
            fprintf(stderr, "afx: --format: unknown value '%s' (expected one of npy|wds|ark|table)\n", arg);
            return -1;
        }
        c->format = (afx_job_format)f;
        return 0;
    }
    case ID_SHARD_SIZE:
        if (afx_cli_parse_i64(o->name, arg, &c->shard_size) != 0)
            return -1;
        if (c->shard_size < 1) {
            fprintf(stderr, "afx: --shard-size: '%s' must be >= 1\n", arg);
            return -1;
        }
        return 0;
    case ID_FORCE: c->force = 1; return 0;
    case ID_REPORT: c->report_path = arg; return 0;
    case ID_FILES_FROM: return add_source(a, AFX_SRC_FILES_FROM, arg);
    case ID_MANIFEST: return add_source(a, AFX_SRC_MANIFEST, arg);
    case ID_ROOT: c->root = arg; return 0;
    case ID_FIXED_LENGTH:
        if (afx_cli_parse_i64(o->name, arg, &a->fixed_length) != 0)
            return -1;
        if (a->fixed_length < 0) {
            fprintf(stderr, "afx: --fixed-length: '%s' must be >= 0 (0 = off)\n", arg);
            return -1;
        }
        a->clip_seconds = 0.0;
        return 0;
    case ID_CLIP_SECONDS:
        if (afx_cli_parse_seconds(o->name, arg, &a->clip_seconds) != 0)
            return -1;
        a->fixed_length = 0;
        return 0;
    case ID_MAX_DURATION: return afx_cli_parse_seconds(o->name, arg, &c->max_duration);
    case ID_JOBS:
        if (afx_cli_parse_int(o->name, arg, &c->jobs) != 0)
            return -1;
        if (c->jobs < 1 || c->jobs > 4096) {
            fprintf(stderr, "afx: --jobs: '%s' must be in 1..4096\n", arg);
            return -1;
        }
        return 0;
    case ID_SHARD:
        if (afx_shard_parse(arg, &c->shard_index, &c->shard_count) != 0)
            return -1;
        a->shard_given = 1;
        return 0;
    case ID_SHARDS:
        if (afx_cli_parse_int(o->name, arg, &a->shards) != 0)
            return -1;
        if (a->shards < 1) {
            fprintf(stderr, "afx: --shards: '%s' must be >= 1\n", arg);
            return -1;
        }
        return 0;
    case ID_PROGRESS: {
        static const char *const names[] = {"auto", "bar", "lines", "none"};
        for (int i = 0; i < 4; i++)
            if (strcmp(arg, names[i]) == 0) {
                c->progress = (afx_job_progress)i;
                return 0;
            }
        fprintf(stderr, "afx: --progress: unknown value '%s' (expected one of auto|bar|lines|none)\n", arg);
        return -1;
    }
    case ID_PROGRESS_EVERY:
        if (afx_cli_parse_seconds(o->name, arg, &c->progress_every) != 0)
            return -1;
        if (c->progress_every <= 0.0) {
            fprintf(stderr, "afx: --progress-every: '%s' must be > 0\n", arg);
            return -1;
        }
        return 0;
    case ID_QUIET: c->quiet = 1; return 0;
    default: return -1;
    }
}

void afx_extract_print_usage(FILE *f)
{
    fprintf(f, "Usage: afx extract [options] INPUT... -o OUTDIR\n"
               "       afx --help | --version\n"
               "Try 'afx --help' for the list of options.\n");
}

void afx_extract_print_help(FILE *f)
{
    fprintf(f,
            "afx %s: audio feature extraction (spectrogram, mel, log-mel, dB, MFCC)\n\n"
            "Usage: afx extract [options] INPUT... -o OUTDIR\n"
            "       afx --help | --version\n\n"
            "Decodes every clip of the INPUTs (audio files; folders, walked for audio files; CSV/TSV/JSONL\n"
            "manifests; '-' for standard input), downmixes it to mono, resamples it to --sample-rate and\n"
            "writes its features (float32) to OUTDIR in --format, mirroring the input tree: npy writes\n"
            "OUTDIR/<path under the root without extension>.npy, shape (n_features, n_frames) for --layout ft,\n"
            "(n_frames, n_features) for tf, a vector with --pool. Every run writes OUTDIR/params.json and\n"
            "OUTDIR/index.jsonl; a rerun skips outputs already complete. Exit status: 0 success, 1 some clip\n"
            "failed (the rest are still written), 2 usage or setup error. Defaults shown are those without\n"
            "--preset.\n",
            afx_version_string());
    afx_cli_print_options(f, EXTRACT_OPTIONS, N_EXTRACT_OPTIONS);
    size_t n = 0;
    const cli_option *params = afx_cli_param_options(&n);
    afx_cli_print_options(f, params, n);
    fprintf(f, "\n    --version%-27s print the library version and exit (afx --version)\n", "");
}

/* Validates the parameters: exit 2 with the option that sets the bad field. */
static int validate(const afx_params *p)
{
    char err[AFX_ERROR_MAX];
    if (afx_params_validate(p, err, sizeof err) == AFX_OK)
        return 0;
    afx_cli_one_line(err);
    const char *opt = afx_cli_option_of_message(err);
    if (opt == NULL && strncmp(err, "fixed_length", 12) == 0)
        opt = "fixed-length";
    fprintf(stderr, "afx: invalid parameters: %s%s%s%s\n", err, opt ? " (option --" : "", opt ? opt : "",
            opt ? ")" : "");
    return -1;
}

int afx_cmd_extract(int argc, char **argv)
{
    afx_params p;
    afx_params_init(&p);
    extract_args a;
    memset(&a, 0, sizeof a);
    a.cfg.format = AFX_JOB_NPY;
    a.cfg.shard_size = DEFAULT_SHARD_SIZE;
    a.cfg.jobs = afx_job_default_jobs();
    a.cfg.shard_count = 1;
    a.cfg.progress = AFX_PROGRESS_AUTO;
    a.cfg.progress_every = 30.0;
    a.cfg.max_duration = -1.0;
    int first = 0;
    int r = afx_cli_parse(argc, argv, EXTRACT_OPTIONS, N_EXTRACT_OPTIONS, &p, on_option, &a, &first);
    if (r != 0) {
        free(a.sources);
        if (r > 0) {
            afx_extract_print_help(stdout);
            return AFX_JOB_EXIT_OK;
        }
        return AFX_JOB_EXIT_USAGE;
    }
    int code = AFX_JOB_EXIT_USAGE;
    for (int i = first; i < argc; i++)
        if (add_source(&a, operand_kind(argv[i]), argv[i]) != 0)
            goto done;
    if (a.n_sources == 0) {
        fprintf(stderr, "afx extract: no inputs\n");
        afx_extract_print_usage(stderr);
        goto done;
    }
    if (a.cfg.outdir == NULL || a.cfg.outdir[0] == '\0') {
        fprintf(stderr, "afx extract: -o/--output DIR is required\n");
        afx_extract_print_usage(stderr);
        goto done;
    }
    if (!a.shard_given && afx_shard_from_env(a.shards, &a.cfg.shard_index, &a.cfg.shard_count,
                                              &a.cfg.shard_origin) != 0)
        goto done;
    if (a.shard_given) {
        if (a.shards > 0 && a.shards != a.cfg.shard_count) {
            fprintf(stderr, "afx: --shards %d contradicts --shard %d/%d\n", a.shards, a.cfg.shard_index,
                    a.cfg.shard_count);
            goto done;
        }
        a.cfg.shard_origin = "--shard";
    }

    /* The clip length: in samples, or seconds at the final sample rate (after --preset and --sample-rate). */
    if (a.clip_seconds > 0.0) {
        double n = round(a.clip_seconds * (double)p.sample_rate);
        if (n < 1.0 || n > 1e12) {
            fprintf(stderr, "afx: --clip-seconds %g gives %.0f samples at %d Hz\n", a.clip_seconds, n, p.sample_rate);
            goto done;
        }
        a.fixed_length = (int64_t)n;
    }
    p.fixed_length = a.fixed_length;
    if (p.fixed_length > p.max_samples)
        p.max_samples = p.fixed_length; /* the job sizes its plans itself */
    if (validate(&p) != 0)
        goto done;

    a.cfg.sources = a.sources;
    a.cfg.n_sources = a.n_sources;
    a.cfg.pipeline = p.backend != AFX_BACKEND_CPU && afx_cuda_device_count() > 0;
    code = afx_job_run(&a.cfg, &p);
done:
    free(a.sources);
    return code;
}
