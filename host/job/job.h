/*
 * job.h: the corpus job behind `afx extract`: many inputs -> features on disk, in parallel, restartable,
 * sharded. Not installed; the CLI (host/cli/extract.c) fills an afx_job_config and calls afx_job_run.
 *
 *   items.c     inputs: files, folders (recursive, audio extensions), --files-from lists, CSV/TSV/JSONL
 *               manifests; one item per clip with its output key mirrored from the path under the root
 *   shard.c     --shard i/n, SLURM_ARRAY_TASK_* and JOB_COMPLETION_INDEX; which units a task owns
 *   runner.c    afx_job_run: setup and validation, restart skips, the end of a run (index, report, summary)
 *   compute.c   threads: decode + one plan each on the CPU; decode threads + one GPU thread with
 *               afx_plan_execute_batches on CUDA; batching; plans that grow with the clips
 *   units.c     per-clip results: features to their output unit, failures printed and counted
 *   writers.c   output formats: npy tree, WebDataset tar shards, Kaldi ark + scp, dense table
 *   journal.c   restart records: which output units are complete, with which parameters
 *   outfs.c     output files: unique temporary names (mkstemp), atomic rename, stale temporaries, probes
 *   meta.c      params.json, index JSONL, --report JSON (jansson)
 *   progress.c  progress bar / periodic lines and the exit summary
 *
 * Threading: afx_job_run creates and joins every thread it uses; the config is only read.
 */
#ifndef AFX_JOB_H
#define AFX_JOB_H

#include <stdint.h>
#include <stdio.h>

#include "afx.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Output formats (--format). */
typedef enum afx_job_format {
    AFX_JOB_NPY = 0,   /* OUTDIR/<key>.npy, the input tree mirrored */
    AFX_JOB_WDS = 1,   /* WebDataset tar shards of shard_size clips: <key>.npy, <key>.json, <key>.cls */
    AFX_JOB_ARK = 2,   /* Kaldi binary ark files of shard_size clips + one scp per job shard */
    AFX_JOB_TABLE = 3  /* one dense [N, D] float32 .npy of pooled features per job shard (+ the index) */
} afx_job_format;

/* Progress display (--progress). */
typedef enum afx_job_progress { AFX_PROGRESS_AUTO = 0, AFX_PROGRESS_BAR = 1, AFX_PROGRESS_LINES = 2, AFX_PROGRESS_NONE = 3 } afx_job_progress;

/* One input source as given on the command line, in order. */
typedef enum afx_job_source_kind {
    AFX_SRC_PATH = 0,       /* a file or a folder (walked recursively for audio extensions); "-" = stdin */
    AFX_SRC_FILES_FROM = 1, /* a list of paths, one a line ("-" = stdin) */
    AFX_SRC_MANIFEST = 2    /* a CSV / TSV / JSONL manifest (by extension: .csv, .tsv, .jsonl / .json) */
} afx_job_source_kind;

typedef struct afx_job_source {
    afx_job_source_kind kind;
    const char *path;
} afx_job_source;

typedef struct afx_job_config {
    const afx_job_source *sources;
    int n_sources;
    const char *root;          /* --root: output keys relative to it (NULL: per source, see items.c) */
    const char *outdir;        /* -o */
    afx_job_format format;
    int64_t shard_size;        /* clips per tar / ark file */
    int jobs;                  /* worker threads (>= 1) */
    int shard_index, shard_count; /* this task's share: units [i*U/n, (i+1)*U/n) */
    const char *shard_origin;  /* where the shard came from, for messages ("--shard", "SLURM_ARRAY_TASK_ID", ...) */
    int force;                 /* recompute outputs even when complete */
    int quiet;                 /* no progress, no summary */
    afx_job_progress progress;
    double progress_every;     /* seconds between plain progress lines */
    const char *report_path;   /* --report FILE.json (NULL: none) */
    double max_duration;       /* --max-duration: afx_audio_options.max_duration_seconds (< 0: the library's
                                  default, 4 h; 0: no limit) */
    int pipeline;              /* 1: decode threads feed one compute thread (afx_plan_execute_batches); set for
                                  CUDA, and by tests for the CPU backend. 0: each worker has its own plan. */
} afx_job_config;

/* Exit codes of a job (and of `afx extract`). */
enum { AFX_JOB_EXIT_OK = 0, AFX_JOB_EXIT_SOME_FAILED = 1, AFX_JOB_EXIT_USAGE = 2 };

/*
 * Runs the job: validates everything that can be validated first (parameters, inputs and manifests,
 * output folder writable), then computes and writes every output of this shard, skipping complete ones.
 * `params` are the user's parameters (max_batch = batch size; max_samples is managed by the job).
 * Prints per-clip errors, progress and the summary to stderr. Returns an exit code above.
 */
int afx_job_run(const afx_job_config *cfg, const afx_params *params);

/* Default --jobs: the CPUs this process may run on (affinity mask: Slurm, taskset, cgroups). */
int afx_job_default_jobs(void);

/* Name of a format ("npy", "wds", "ark", "table") and its value (-1 if unknown). */
const char *afx_job_format_name(afx_job_format f);
int afx_job_format_value(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* AFX_JOB_H */
