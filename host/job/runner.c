/*
 * runner.c: afx_job_run (job.h): setup and validation (parameters, inputs, shard, output folder, run lock,
 * restart records, units to skip), then the threads (compute.c) and the end of a run (index, scp, report,
 * summary). Per-clip results and output units: units.c.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "afx_audio.h"
#include "outfs.h"
#include "run.h"
#include "shard.h"
#include "writers.h"


/* ---------------------------------------------------------------------------------------------- */
/* Small helpers                                                                                  */
/* ---------------------------------------------------------------------------------------------- */

static const char *const FORMAT_NAMES[] = {"npy", "wds", "ark", "table"};

const char *afx_job_format_name(afx_job_format f)
{
    return (unsigned)f < sizeof FORMAT_NAMES / sizeof FORMAT_NAMES[0] ? FORMAT_NAMES[f] : "?";
}

int afx_job_format_value(const char *name)
{
    for (int i = 0; i < (int)(sizeof FORMAT_NAMES / sizeof FORMAT_NAMES[0]); i++)
        if (strcmp(name, FORMAT_NAMES[i]) == 0)
            return i;
    return -1;
}

int afx_job_default_jobs(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set); /* the CPUs this process may use (Slurm, taskset, cgroups) */
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void one_line(char *msg)
{
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
}

/* ---------------------------------------------------------------------------------------------- */
/* Setup                                                                                          */
/* ---------------------------------------------------------------------------------------------- */

/* Reads the "fingerprint" of an existing OUTDIR/params.json ("" if none). */
static void previous_fingerprint(const char *outdir, char *hex, size_t size)
{
    hex[0] = '\0';
    char *path = NULL;
    if (asprintf(&path, "%s/params.json", outdir) < 0)
        return;
    json_t *o = json_load_file(path, 0, NULL);
    const char *fp = json_string_value(json_object_get(o, "fingerprint"));
    if (fp != NULL)
        snprintf(hex, size, "%s", fp);
    json_decref(o);
    free(path);
}

/* Whether `name` is "<stem><ext>" or "<stem>-NNNNN-of-NNNNN<ext>": a per-run or per-shard file of a job. */
static int is_run_file(const char *name, const char *stem, const char *ext)
{
    size_t ls = strlen(stem), le = strlen(ext), n = strlen(name);
    if (n < ls + le || strncmp(name, stem, ls) != 0 || strcmp(name + n - le, ext) != 0)
        return 0;
    const char *mid = name + ls;
    size_t lm = n - ls - le;
    if (lm == 0)
        return 1;
    int i = -1, c = -1, used = 0;
    return lm == 15 && sscanf(mid, "-%5d-of-%5d%n", &i, &c, &used) == 2 && used == 15;
}

/* Removes OUTDIR's index, scp and table files of earlier runs made with other parameters: they describe
 * outputs this run replaces. */
static void remove_stale_metadata(const char *outdir)
{
    DIR *d = opendir(outdir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        int ours = is_run_file(n, "index", ".jsonl") || is_run_file(n, "feats", ".scp") ||
                   is_run_file(n, "table", ".npy");
        char *path = NULL;
        if (ours && asprintf(&path, "%s/%s", outdir, n) >= 0) {
            unlink(path);
            free(path);
        }
    }
    if (d != NULL)
        closedir(d);
}

/* Prints "afx: <msg>" for a setup failure. */
static void setup_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static void setup_error(const char *fmt, ...)
{
    char msg[AFX_ERROR_MAX + 1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    one_line(msg);
    fprintf(stderr, "afx: %s\n", msg);
}

/* Units of this shard, their names and hashes; skipped units from the journal; the todo list. */
static int make_units(job_run *r)
{
    const afx_job_config *cfg = r->cfg;
    int64_t n_clips = r->hi - r->lo;
    r->n_units = n_clips == 0 ? 0 : (n_clips + r->clips_per_unit - 1) / r->clips_per_unit;
    r->units = calloc((size_t)(r->n_units > 0 ? r->n_units : 1), sizeof *r->units);
    r->clips = calloc((size_t)(n_clips > 0 ? n_clips : 1), sizeof *r->clips);
    r->todo = malloc(sizeof *r->todo * (size_t)(n_clips > 0 ? n_clips : 1));
    if (r->units == NULL || r->clips == NULL || r->todo == NULL)
        return -1;
    for (int64_t k = 0; k < r->n_units; k++) {
        unit_state *u = &r->units[k];
        u->first = r->lo + k * r->clips_per_unit;
        u->count = r->hi - u->first < r->clips_per_unit ? r->hi - u->first : r->clips_per_unit;
        u->ih = afx_run_unit_hash(r, u);
        int64_t part = u->first / (cfg->shard_size > 0 ? cfg->shard_size : 1);
        int n = -1;
        switch (cfg->format) {
        case AFX_JOB_NPY: n = asprintf(&u->name, "%s.npy", r->items.v[u->first].key); break;
        case AFX_JOB_WDS: n = asprintf(&u->name, "shard-%06" PRId64 ".tar", part); break;
        case AFX_JOB_ARK: n = asprintf(&u->name, "feats-%.8s-%06" PRId64 ".ark", r->fp_hex, part); break;
        case AFX_JOB_TABLE: n = asprintf(&u->name, "table%s.npy", r->suffix); break;
        }
        if (n < 0)
            return -1;

        const afx_journal_rec *rec = cfg->force ? NULL : afx_journal_find(&r->journal, u->name, r->fp, u->ih);
        struct stat st;
        char *path = afx_run_unit_path(r, u);
        if (rec != NULL && rec->n == u->count && path != NULL && stat(path, &st) == 0 &&
            (int64_t)st.st_size == rec->bytes && (cfg->format != AFX_JOB_ARK || rec->offsets != NULL)) {
            u->skipped = 1;
            for (int64_t i = u->first; i < u->first + u->count; i++) {
                clip_state *c = run_clip(r, i);
                c->status = CLIP_SKIPPED;
                c->n_frames = rec->n_frames[i - u->first];
                c->ark_offset = rec->offsets ? rec->offsets[i - u->first] : 0;
                c->row = -1;
                r->n_skipped++;
            }
        }
        free(path);
    }
    /* Table rows of a skipped table: in order of the clips that have frames recorded (failed ones do not
     * occur: a table with a failed clip is never recorded). */
    if (cfg->format == AFX_JOB_TABLE && r->n_units == 1 && r->units[0].skipped)
        for (int64_t i = r->lo; i < r->hi; i++)
            run_clip(r, i)->row = i - r->lo;
    for (int64_t i = r->lo; i < r->hi; i++) {
        clip_state *c = run_clip(r, i);
        if (c->status == CLIP_SKIPPED)
            continue;
        c->row = -1;
        afx_run_unit_of(r, i)->pending++;
        r->todo[r->n_todo++] = i;
    }
    return 0;
}

/* Clips whose row was bad fail before any work; units left with nothing to compute are written now. */
static void fail_bad_rows(job_run *r)
{
    int64_t kept = 0;
    for (int64_t k = 0; k < r->n_todo; k++) {
        int64_t i = r->todo[k];
        if (r->items.v[i].error != NULL)
            afx_run_fail_clip(r, i, r->items.v[i].error);
        else
            r->todo[kept++] = i;
    }
    r->n_todo = kept;
}

static void free_run(job_run *r)
{
    for (int64_t i = r->lo; r->clips && i < r->hi; i++) {
        free(run_clip(r, i)->error);
        free(run_clip(r, i)->features);
    }
    free(r->clips);
    for (int64_t k = 0; r->units && k < r->n_units; k++)
        free(r->units[k].name);
    free(r->units);
    free(r->todo);
    free(r->outdir_abs);
    if (r->lock_fd > 0)
        close(r->lock_fd); /* the run lock ends with the run */
    afx_journal_free(&r->journal);
    afx_job_items_free(&r->items);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
}

int afx_job_run(const afx_job_config *cfg, const afx_params *params)
{
    job_run run;
    job_run *r = &run;
    memset(r, 0, sizeof *r);
    r->cfg = cfg;
    r->params = *params;
    r->suffix = "";
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->journal.fd = -1;
    pthread_mutex_init(&r->journal.mu, NULL);
    char err[AFX_ERROR_MAX + 512];
    int code = AFX_JOB_EXIT_USAGE;
    afx_outfs_init();

    /* 1. The parameters and the backend: a plan, before anything is read or created. */
    afx_params probe = r->params;
    probe.max_batch = 1;
    probe.max_samples = afx_run_initial_max_samples(&r->params);
    afx_plan *plan = NULL;
    afx_status s = afx_plan_create(&probe, &plan, err, sizeof err);
    if (s != AFX_OK) {
        setup_error("cannot create the plan: %s", err);
        free_run(r);
        return (s == AFX_ERR_INVALID_PARAM || s == AFX_ERR_BACKEND_UNAVAILABLE) ? AFX_JOB_EXIT_USAGE
                                                                                 : AFX_JOB_EXIT_SOME_FAILED;
    }
    r->n_features = afx_plan_n_features(plan);
    r->backend = afx_plan_backend(plan);
    if (r->params.pooling != AFX_POOL_NONE)
        r->pooled_size = (int)afx_plan_output_size(plan, 1, 1);
    afx_plan_free(plan);
    if (cfg->format == AFX_JOB_TABLE && r->pooled_size == 0) {
        setup_error("--format table writes one vector per clip: give --pool mean or --pool meanstd");
        free_run(r);
        return AFX_JOB_EXIT_USAGE;
    }

    /* 2. Inputs. */
    if (afx_job_items_collect(cfg, &r->items) != 0) {
        free_run(r);
        return AFX_JOB_EXIT_USAGE;
    }

    /* 3. This shard's clips. */
    int64_t n = r->items.n;
    int64_t per_part = (cfg->format == AFX_JOB_WDS || cfg->format == AFX_JOB_ARK) ? cfg->shard_size : 1;
    int64_t n_units = (n + per_part - 1) / per_part, ulo = 0, uhi = 0;
    afx_shard_range(n_units, cfg->shard_index, cfg->shard_count, &ulo, &uhi);
    r->lo = ulo * per_part;
    r->hi = uhi * per_part < n ? uhi * per_part : n;
    if (r->lo > n)
        r->lo = n;
    r->clips_per_unit = cfg->format == AFX_JOB_TABLE ? (r->hi - r->lo > 0 ? r->hi - r->lo : 1) : per_part;
    static char suffix[64];
    if (cfg->shard_count > 1) {
        snprintf(suffix, sizeof suffix, "-%05d-of-%05d", cfg->shard_index, cfg->shard_count);
        r->suffix = suffix;
    }

    /* 4. The output folder: writable, stale temporaries of killed runs removed, records read. */
    if (afx_outdir_check(cfg->outdir, err, sizeof err) != 0) {
        setup_error("%s", err);
        free_run(r);
        return AFX_JOB_EXIT_USAGE;
    }
    r->outdir_abs = afx_job_abs_path(cfg->outdir);
    r->fp = afx_meta_fingerprint(r);
    snprintf(r->fp_hex, sizeof r->fp_hex, "%016" PRIx64, r->fp);
    long stale = 0;
    int lock_fd = afx_outdir_lock(cfg->outdir, &stale, err, sizeof err);
    if (lock_fd < 0) {
        setup_error("%s", err);
        free_run(r);
        return AFX_JOB_EXIT_USAGE;
    }
    r->lock_fd = lock_fd;
    if (stale > 0 && !cfg->quiet)
        fprintf(stderr, "afx: removed %ld temporary file%s of an interrupted run\n", stale, stale == 1 ? "" : "s");
    char previous[32];
    previous_fingerprint(cfg->outdir, previous, sizeof previous);
    if (previous[0] != '\0' && strcmp(previous, r->fp_hex) != 0)
        remove_stale_metadata(cfg->outdir);
    pthread_mutex_destroy(&r->journal.mu);
    if (r->outdir_abs == NULL || afx_journal_load(&r->journal, cfg->outdir) != 0 || make_units(r) != 0) {
        setup_error("out of memory");
        free_run(r);
        return AFX_JOB_EXIT_SOME_FAILED;
    }
    if (afx_journal_open(&r->journal, cfg->outdir, cfg->shard_index, cfg->shard_count, err, sizeof err) != 0 ||
        afx_meta_write_params(r, err, sizeof err) != 0) {
        setup_error("%s", err);
        free_run(r);
        return AFX_JOB_EXIT_USAGE;
    }

    /* 5. Work. */
    r->t_start = afx_now();
    afx_progress_start(r);
    fail_bad_rows(r); /* a unit whose every clip fails here is written (empty) by the last failure */
    int threads_status = afx_run_threads(r);
    double wall = afx_now() - r->t_start;

    /* 6. Records of the run. */
    code = (r->n_failed > 0 || threads_status != 0) ? AFX_JOB_EXIT_SOME_FAILED : AFX_JOB_EXIT_OK;
    if (afx_meta_write_index(r, err, sizeof err) != 0 ||
        (cfg->format == AFX_JOB_ARK && afx_meta_write_scp(r, err, sizeof err) != 0) ||
        (cfg->report_path != NULL && afx_meta_write_report(r, wall, err, sizeof err) != 0)) {
        setup_error("%s", err);
        code = AFX_JOB_EXIT_SOME_FAILED;
    }
    if (!cfg->quiet) {
        char shard[64] = "";
        if (cfg->shard_count > 1)
            snprintf(shard, sizeof shard, ", shard %d/%d", cfg->shard_index, cfg->shard_count);
        fprintf(stderr,
                "afx: %" PRId64 " ok, %" PRId64 " failed, %" PRId64 " skipped; %.2f s of audio in %.2f s (%.1f clips/s, "
                "%.4f audio-h/s, %s backend, %d jobs%s)\n",
                r->n_ok, r->n_failed, r->n_skipped, r->audio_seconds, wall, wall > 0 ? (double)r->n_ok / wall : 0.0,
                wall > 0 ? r->audio_seconds / 3600.0 / wall : 0.0, afx_backend_name(r->backend), cfg->jobs, shard);
    }
    free_run(r);
    return code;
}
