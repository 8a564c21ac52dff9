/*
 * runner.c: afx_job_run (job.h): setup and validation, the worker threads, batching, per-clip results and
 * output units, and the end of a run (index, scp, report, summary).
 *
 * CPU backend ("workers" mode): --jobs threads, each with its own afx_audio_decoder and afx_plan, take
 * batches of consecutive clips (consecutive global indices, so dither and masks are keyed exactly as in a
 * single process), decode them, compute them and hand each clip's features to its output. A plan gets
 * cpu_threads = jobs / workers when there are fewer batches than workers, and a clip longer than
 * LONG_CLIP_SECONDS runs alone on a shared plan with cpu_threads = jobs (one at a time), so a single long
 * clip still uses every core.
 *
 * CUDA backend ("pipeline" mode): --jobs decode threads fill batches (owned copies of the samples) into a
 * bounded queue; one compute thread owns the only plan and runs up to PIPELINE_DEPTH batches per
 * afx_plan_execute_batches call (double-buffered pinned staging on the GPU), then writes the outputs.
 *
 * Results never depend on the mode, the number of jobs or the batch size (tests compare them bit for bit).
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

/* Seconds of audio a plan is first sized for; it grows geometrically when a longer clip comes. */
#define INITIAL_PLAN_SECONDS 30
/* Upper limit of afx_params.max_samples (2^40, see afx.h). */
#define MAX_PLAN_SAMPLES ((int64_t)1 << 40)
/* A clip at least this long runs alone on the all-cores plan (workers mode). */
#define LONG_CLIP_SECONDS 60
/* Batches per afx_plan_execute_batches call, and queued batches per decode thread (pipeline mode). */
#define PIPELINE_DEPTH 4

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

int afx_run_clip_shape(const job_run *r, int64_t n_frames, int64_t shape[2], int *transposed)
{
    *transposed = 0;
    if (r->pooled_size > 0) {
        shape[0] = r->pooled_size;
        return 1;
    }
    if (r->cfg->format == AFX_JOB_ARK || r->params.layout == AFX_LAYOUT_TF) {
        shape[0] = n_frames;
        shape[1] = r->n_features;
        /* ark with layout ft: the data stays (features, frames); the writer transposes */
        if (r->cfg->format == AFX_JOB_ARK && r->params.layout != AFX_LAYOUT_TF) {
            shape[0] = r->n_features;
            shape[1] = n_frames;
            *transposed = 1;
        }
        return 2;
    }
    shape[0] = r->n_features;
    shape[1] = n_frames;
    *transposed = 1;
    return 2;
}

/* ---------------------------------------------------------------------------------------------- */
/* Clip results and output units                                                                  */
/* ---------------------------------------------------------------------------------------------- */

static unit_state *unit_of(job_run *r, int64_t i) { return &r->units[(i - r->lo) / r->clips_per_unit]; }

/* Path of a unit's file. malloc'd. */
static char *unit_path(const job_run *r, const unit_state *u)
{
    char *p = NULL;
    return asprintf(&p, "%s/%s", r->cfg->outdir, u->name) < 0 ? NULL : p;
}

static void write_unit(job_run *r, unit_state *u);
static int reserve(float **buf, size_t *cap, size_t n);

/* Marks clip i failed with `msg` (which names the input, or gets its path prepended). r->mu NOT held. */
static void fail_clip(job_run *r, int64_t i, const char *msg)
{
    const afx_job_item *it = &r->items.v[i];
    char *text = NULL;
    if (strstr(msg, it->path) != NULL || it->path[0] == '\0') {
        text = strdup(msg);
    } else if (asprintf(&text, "%s: %s", it->path, msg) < 0) {
        text = NULL;
    }
    if (text != NULL)
        one_line(text);
    unit_state *u = unit_of(r, i);
    int write = 0;
    pthread_mutex_lock(&r->mu);
    clip_state *c = run_clip(r, i);
    free(c->error);
    c->error = text;
    c->status = CLIP_FAILED;
    c->n_frames = -1;
    free(c->features);
    c->features = NULL;
    r->n_failed++;
    r->n_done++;
    u->failed = 1;
    if (r->cfg->format != AFX_JOB_NPY)
        write = --u->pending == 0;
    char line[AFX_ERROR_MAX + 1200];
    snprintf(line, sizeof line, "afx: failed: %s", text ? text : "out of memory");
    afx_progress_message(r, line); /* failures are printed even with -q */
    pthread_mutex_unlock(&r->mu);
    if (write)
        write_unit(r, u);
}

/* The unit's input hash: every input field that ends up in its file. */
static uint64_t unit_hash(const job_run *r, const unit_state *u)
{
    uint64_t h = AFX_FNV_START;
    for (int64_t i = u->first; i < u->first + u->count; i++) {
        const afx_job_item *it = &r->items.v[i];
        h = afx_fnv(h, &it->index, sizeof it->index);
        h = afx_fnv_str(h, it->path);
        h = afx_fnv_str(h, it->key);
        h = afx_fnv(h, &it->offset, sizeof it->offset);
        h = afx_fnv(h, &it->duration, sizeof it->duration);
        h = afx_fnv_str(h, it->label_json);
        h = afx_fnv_str(h, it->meta_json);
    }
    return h;
}

/* Writes a wds/ark/table unit once all its clips are computed or failed; records it when complete. */
static void write_unit(job_run *r, unit_state *u)
{
    char err[AFX_ERROR_MAX + 512] = "";
    afx_clip_out *outs = calloc((size_t)(u->count > 0 ? u->count : 1), sizeof *outs);
    int64_t *offsets = calloc((size_t)(u->count > 0 ? u->count : 1), sizeof *offsets);
    int64_t *frames = calloc((size_t)(u->count > 0 ? u->count : 1), sizeof *frames);
    int64_t *which = calloc((size_t)(u->count > 0 ? u->count : 1), sizeof *which);
    char *path = unit_path(r, u);
    int64_t n = 0, bytes = 0;
    int status = (outs && offsets && frames && which && path) ? 0 : -1;
    if (status != 0)
        snprintf(err, sizeof err, "out of memory");
    float *table = NULL;
    for (int64_t i = u->first; i < u->first + u->count && status == 0; i++) {
        clip_state *c = run_clip(r, i);
        frames[i - u->first] = c->n_frames;
        if (c->status != CLIP_OK)
            continue;
        afx_clip_out *o = &outs[n];
        o->key = r->items.v[i].key;
        o->data = c->features;
        o->ndim = afx_run_clip_shape(r, c->n_frames, o->shape, &o->transposed);
        if (r->cfg->format == AFX_JOB_WDS) {
            o->json = afx_meta_clip_json(r, &r->items.v[i], c->n_frames);
            o->has_cls = afx_job_item_int_label(&r->items.v[i], &o->cls);
        }
        which[n++] = i;
    }
    if (status == 0 && r->cfg->format == AFX_JOB_TABLE) {
        int64_t shape[2] = {n, r->pooled_size};
        table = malloc(sizeof(float) * (size_t)(n * r->pooled_size > 0 ? n * r->pooled_size : 1));
        if (table == NULL) {
            snprintf(err, sizeof err, "out of memory for the table");
            status = -1;
        }
        for (int64_t k = 0; k < n && status == 0; k++) {
            memcpy(table + k * r->pooled_size, outs[k].data, sizeof(float) * (size_t)r->pooled_size);
            run_clip(r, which[k])->row = k;
        }
        if (status == 0)
            status = afx_write_npy_file(path, table, 2, shape, &bytes, err, sizeof err);
    } else if (status == 0 && r->cfg->format == AFX_JOB_WDS) {
        status = afx_write_tar(path, outs, n, &bytes, err, sizeof err);
    } else if (status == 0 && r->cfg->format == AFX_JOB_ARK) {
        status = afx_write_ark(path, outs, n, offsets, &bytes, err, sizeof err);
        for (int64_t k = 0; k < n && status == 0; k++)
            run_clip(r, which[k])->ark_offset = offsets[k];
    }
    free(table);
    for (int64_t k = 0; k < n; k++) {
        free((char *)outs[k].json);
        clip_state *c = run_clip(r, which[k]);
        free(c->features);
        c->features = NULL;
    }
    if (status == 0 && !u->failed) {
        int64_t *all_offsets = NULL;
        if (r->cfg->format == AFX_JOB_ARK) {
            all_offsets = calloc((size_t)u->count, sizeof *all_offsets);
            for (int64_t i = u->first; all_offsets && i < u->first + u->count; i++)
                all_offsets[i - u->first] = run_clip(r, i)->ark_offset;
        }
        if (r->cfg->format != AFX_JOB_ARK || all_offsets != NULL)
            afx_journal_append(&r->journal, u->name, r->fp, u->ih, bytes, u->count, frames, all_offsets);
        free(all_offsets);
    }
    if (status != 0) {
        /* Nothing of the unit was written: its computed clips fail with the reason. */
        for (int64_t k = 0; k < n; k++) {
            pthread_mutex_lock(&r->mu);
            clip_state *c = run_clip(r, which[k]);
            c->status = CLIP_TODO;
            r->n_ok--;
            r->n_done--;
            pthread_mutex_unlock(&r->mu);
            fail_clip(r, which[k], err);
        }
    }
    free(outs);
    free(offsets);
    free(frames);
    free(which);
    free(path);
}

/*
 * Takes clip i's computed features (`clip` points into a batch output with frames_stride frames) to its
 * output. `scratch` is the caller's buffer for the compact copy.
 */
static void deliver(job_run *r, int64_t i, const float *clip, int64_t frames_stride, int64_t n_frames,
                    double seconds, float **scratch, size_t *scratch_cap)
{
    int64_t shape[2];
    int transposed = 0;
    int ndim = afx_run_clip_shape(r, n_frames, shape, &transposed);
    size_t count = ndim == 1 ? (size_t)shape[0] : (size_t)(shape[0] * shape[1]);
    const float *data = clip;
    int keep = r->cfg->format != AFX_JOB_NPY;
    float *copy = NULL;
    if (keep || (ndim == 2 && transposed)) {
        if (keep) {
            copy = malloc(sizeof(float) * (count > 0 ? count : 1));
        } else {
            if (reserve(scratch, scratch_cap, count) == 0)
                copy = *scratch;
        }
        if (copy == NULL) {
            fail_clip(r, i, "out of memory for the clip's features");
            return;
        }
        if (ndim == 2 && transposed) { /* [nf][frames_stride] -> [nf][n_frames] */
            for (int64_t f = 0; f < r->n_features; f++)
                memcpy(copy + f * n_frames, clip + f * frames_stride, sizeof(float) * (size_t)n_frames);
        } else if (count > 0) {
            memcpy(copy, clip, sizeof(float) * count);
        }
        data = copy;
    }
    if (!keep) {
        unit_state *u = unit_of(r, i);
        char err[AFX_ERROR_MAX + 512];
        char *path = unit_path(r, u);
        int64_t bytes = 0;
        int status = path ? afx_write_npy_file(path, data, ndim, shape, &bytes, err, sizeof err) : -1;
        if (path == NULL)
            snprintf(err, sizeof err, "out of memory");
        free(path);
        if (status != 0) {
            fail_clip(r, i, err);
            return;
        }
        afx_journal_append(&r->journal, u->name, r->fp, u->ih, bytes, 1, &n_frames, NULL);
        pthread_mutex_lock(&r->mu);
        clip_state *c = run_clip(r, i);
        c->status = CLIP_OK;
        c->n_frames = n_frames;
        c->seconds = seconds;
        r->n_ok++;
        r->n_done++;
        r->audio_seconds += seconds;
        pthread_mutex_unlock(&r->mu);
        return;
    }
    unit_state *u = unit_of(r, i);
    pthread_mutex_lock(&r->mu);
    clip_state *c = run_clip(r, i);
    c->status = CLIP_OK;
    c->n_frames = n_frames;
    c->seconds = seconds;
    c->features = copy;
    r->n_ok++;
    r->n_done++;
    r->audio_seconds += seconds;
    int write = --u->pending == 0;
    pthread_mutex_unlock(&r->mu);
    if (write)
        write_unit(r, u);
}

/* ---------------------------------------------------------------------------------------------- */
/* Plans and batches                                                                              */
/* ---------------------------------------------------------------------------------------------- */

/* A plan and the buffers of one computing thread. */
typedef struct compute_ctx {
    job_run *r;
    afx_params params; /* max_samples follows the plan */
    afx_plan *plan;
    float *out;
    size_t out_cap;
    float *scratch;
    size_t scratch_cap;
    int64_t *n_frames; /* [max_batch] */
} compute_ctx;

/* Samples the first plan is sized for: INITIAL_PLAN_SECONDS at the rate, at least fixed_length. */
static int64_t initial_max_samples(const afx_params *p)
{
    int64_t n = (int64_t)INITIAL_PLAN_SECONDS * p->sample_rate;
    if (n > p->max_samples)
        n = p->max_samples;
    if (n < p->fixed_length)
        n = p->fixed_length;
    return n < 1 ? 1 : n;
}

static int ctx_init(compute_ctx *x, job_run *r, int cpu_threads, char *err, size_t err_size)
{
    memset(x, 0, sizeof *x);
    x->r = r;
    x->params = r->params;
    x->params.max_samples = initial_max_samples(&r->params);
    x->params.cpu_threads = cpu_threads;
    x->n_frames = calloc((size_t)r->params.max_batch, sizeof *x->n_frames);
    if (x->n_frames == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    return afx_plan_create(&x->params, &x->plan, err, err_size) == AFX_OK ? 0 : -1;
}

static void ctx_free(compute_ctx *x)
{
    afx_plan_free(x->plan);
    free(x->out);
    free(x->scratch);
    free(x->n_frames);
    memset(x, 0, sizeof *x);
}

/* Makes the plan take clips of `needed` samples (at least doubling, so a run grows it a logarithmic number
 * of times). AFX_OK or an error with err; the old plan is kept on failure. */
static afx_status ctx_fit(compute_ctx *x, int64_t needed, char *err, size_t err_size)
{
    if (needed <= x->params.max_samples || x->params.fixed_length > 0)
        return AFX_OK; /* with fixed_length every clip is cut to it */
    if (needed > MAX_PLAN_SAMPLES) {
        snprintf(err, err_size, "clip of %" PRId64 " samples is longer than afx supports (%" PRId64 ")", needed,
                 MAX_PLAN_SAMPLES);
        return AFX_ERR_EXCEEDS_PLAN;
    }
    afx_params q = x->params;
    int64_t doubled = q.max_samples > MAX_PLAN_SAMPLES / 2 ? MAX_PLAN_SAMPLES : 2 * q.max_samples;
    q.max_samples = needed > doubled ? needed : doubled;
    afx_plan *plan = NULL;
    afx_status s = afx_plan_create(&q, &plan, err, err_size);
    if (s != AFX_OK)
        return s;
    afx_plan_free(x->plan);
    x->plan = plan;
    x->params = q;
    return AFX_OK;
}

static int reserve(float **buf, size_t *cap, size_t n)
{
    if (n == 0)
        n = 1;
    if (n <= *cap)
        return 0;
    float *p = realloc(*buf, n * sizeof(float));
    if (p == NULL)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* A decoded batch: clips [first, first + count) of the todo list's global indices. */
typedef struct batch {
    int64_t first;        /* global index of clip 0 */
    int count;
    const float **samples; /* [count] (NULL when not decoded) */
    int64_t *lengths;     /* [count] */
    int *decoded;         /* [count] 1 when the clip takes part */
    struct batch *next;   /* pipeline queue link */
    float **owned;        /* pipeline: malloc'd copies; workers: NULL */
} batch;

/* The message for a refused clip b: the plan's message when it is about this clip, else the clip run alone. */
static void refused_message(compute_ctx *x, const batch *bt, int b, char *msg, size_t size)
{
    char tag[64];
    snprintf(tag, sizeof tag, "global index %" PRId64 ")", bt->first + b);
    const char *e = afx_plan_error(x->plan);
    if (strstr(e, tag) != NULL) {
        snprintf(msg, size, "%s", e);
        return;
    }
    const void *clips[1] = {bt->samples[b]};
    int64_t lengths[1] = {bt->lengths[b]}, nf = 0;
    afx_input in = {.format = AFX_SAMPLE_F32, .n_channels = 1, .clips = clips, .lengths = lengths, .n_clips = 1,
                    .first_clip_index = (uint64_t)(bt->first + b)};
    int64_t maxf = 0;
    afx_plan_output_shape(x->plan, &in, NULL, &maxf);
    if (reserve(&x->out, &x->out_cap, afx_plan_output_size(x->plan, 1, maxf)) == 0) {
        afx_output out = {.data = x->out, .frames_stride = maxf, .n_frames = &nf};
        afx_plan_execute(x->plan, &in, &out);
    }
    snprintf(msg, size, "%s", afx_plan_error(x->plan));
}

/* Hands out each clip of a computed batch: features to its output, or its error. */
static void batch_results(compute_ctx *x, const batch *bt, afx_status s, const float *out, int64_t stride,
                          const int64_t *n_frames)
{
    job_run *r = x->r;
    int refused = 0;
    for (int b = 0; b < bt->count && s == AFX_ERR_INVALID_INPUT; b++)
        refused |= bt->decoded[b] && n_frames[b] < 0;
    size_t per_clip = afx_plan_output_size(x->plan, 1, stride);
    for (int b = 0; b < bt->count; b++) {
        if (!bt->decoded[b])
            continue;
        int64_t i = bt->first + b;
        if (s != AFX_OK && !refused) {
            fail_clip(r, i, afx_plan_error(x->plan));
        } else if (n_frames[b] < 0) {
            char msg[AFX_ERROR_MAX];
            refused_message(x, bt, b, msg, sizeof msg);
            fail_clip(r, i, msg);
        } else {
            deliver(r, i, out + (size_t)b * per_clip, stride, n_frames[b],
                    (double)bt->lengths[b] / (double)r->params.sample_rate, &x->scratch, &x->scratch_cap);
        }
    }
}

/* Computes one batch with the context's plan (growing it when needed) and hands out the results. */
static void compute_batch(compute_ctx *x, const batch *bt)
{
    int64_t longest = 0;
    int any = 0;
    for (int b = 0; b < bt->count; b++)
        if (bt->decoded[b]) {
            any = 1;
            if (bt->lengths[b] > longest)
                longest = bt->lengths[b];
        }
    if (!any)
        return;
    char err[AFX_ERROR_MAX];
    if (ctx_fit(x, longest, err, sizeof err) != AFX_OK) {
        for (int b = 0; b < bt->count; b++)
            if (bt->decoded[b])
                fail_clip(x->r, bt->first + b, err);
        return;
    }
    afx_input in = {.format = AFX_SAMPLE_F32, .n_channels = 1, .clips = (const void *const *)bt->samples,
                    .lengths = bt->lengths, .n_clips = bt->count, .first_clip_index = (uint64_t)bt->first};
    int64_t max_frames = 0;
    afx_status s = afx_plan_output_shape(x->plan, &in, NULL, &max_frames);
    if (s == AFX_OK && reserve(&x->out, &x->out_cap, afx_plan_output_size(x->plan, bt->count, max_frames)) != 0) {
        for (int b = 0; b < bt->count; b++)
            if (bt->decoded[b])
                fail_clip(x->r, bt->first + b, "out of memory for the batch output");
        return;
    }
    if (s == AFX_OK) {
        afx_output out = {.data = x->out, .frames_stride = max_frames, .n_frames = x->n_frames};
        s = afx_plan_execute(x->plan, &in, &out);
    }
    batch_results(x, bt, s, x->out, max_frames, x->n_frames);
}

/* ---------------------------------------------------------------------------------------------- */
/* Decoding                                                                                       */
/* ---------------------------------------------------------------------------------------------- */

/* Takes the next batch of consecutive clips to compute. 1 with *first and *count set, 0 when none is left. */
static int take_batch(job_run *r, int64_t *first, int *count)
{
    pthread_mutex_lock(&r->mu);
    int got = r->next_todo < r->n_todo;
    if (got) {
        int64_t p = r->next_todo;
        int n = 1;
        while (n < r->params.max_batch && p + n < r->n_todo && r->todo[p + n] == r->todo[p + n - 1] + 1)
            n++;
        *first = r->todo[p];
        *count = n;
        r->next_todo += n;
    }
    pthread_mutex_unlock(&r->mu);
    return got;
}

/* Reads standard input whole (the "-" input). malloc'd, NULL with err. */
static void *read_stdin(size_t *size, char *err, size_t err_size)
{
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n == cap) {
            char *b = realloc(buf, cap * 2);
            if (b == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        ssize_t got = read(STDIN_FILENO, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(err, err_size, "standard input: %s", strerror(errno));
            free(buf);
            return NULL;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (buf == NULL)
        snprintf(err, err_size, "standard input: out of memory");
    *size = n;
    return buf;
}

/* Decodes clip i with the thread's decoder. The clip borrows the decoder's memory. AFX_OK or err. */
static afx_status decode_clip(job_run *r, afx_audio_decoder *dec, int64_t i, afx_audio_clip *clip, char *err,
                              size_t err_size)
{
    const afx_job_item *it = &r->items.v[i];
    if (it->error != NULL) {
        snprintf(err, err_size, "%s", it->error);
        return AFX_ERR_INVALID_INPUT;
    }
    afx_audio_options o;
    afx_audio_options_init(&o);
    o.target_rate = r->params.sample_rate;
    o.downmix = 1;
    o.offset_seconds = it->offset;
    o.duration_seconds = it->duration;
    if (strcmp(it->path, "-") == 0) {
        size_t size = 0;
        void *data = read_stdin(&size, err, err_size);
        if (data == NULL)
            return AFX_ERR_IO;
        afx_status s = afx_audio_decoder_load_memory(dec, data, size, "standard input", &o, clip, err, err_size);
        free(data);
        return s;
    }
    return afx_audio_decoder_load_file(dec, it->path, &o, clip, err, err_size);
}

/* Grows buf to n floats. */
static int reserve_exact(float **buf, size_t *cap, int64_t n) { return reserve(buf, cap, (size_t)(n > 0 ? n : 1)); }

/* ---------------------------------------------------------------------------------------------- */
/* Workers mode (CPU)                                                                             */
/* ---------------------------------------------------------------------------------------------- */

typedef struct worker {
    job_run *r;
    compute_ctx ctx;
    compute_ctx *long_ctx;       /* shared all-cores plan, NULL when jobs == 1 */
    pthread_mutex_t *long_mu;
    afx_audio_decoder *dec;
    float **bufs;                /* [max_batch] sample copies (the decoder lends one clip at a time) */
    size_t *caps;
    const float **samples;
    int64_t *lengths;
    int *decoded;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    job_run *r = w->r;
    int64_t first;
    int count;
    int64_t long_samples = (int64_t)LONG_CLIP_SECONDS * r->params.sample_rate;
    while (take_batch(r, &first, &count)) {
        batch bt = {.first = first, .count = count, .samples = w->samples, .lengths = w->lengths,
                    .decoded = w->decoded};
        for (int b = 0; b < count; b++) {
            char err[AFX_ERROR_MAX];
            afx_audio_clip clip;
            afx_status s = decode_clip(r, w->dec, first + b, &clip, err, sizeof err);
            w->decoded[b] = 0;
            w->samples[b] = NULL;
            w->lengths[b] = 0;
            if (s != AFX_OK) {
                fail_clip(r, first + b, err);
                continue;
            }
            if (reserve_exact(&w->bufs[b], &w->caps[b], clip.n_samples) != 0) {
                fail_clip(r, first + b, "out of memory for the samples");
                continue;
            }
            if (clip.n_samples > 0)
                memcpy(w->bufs[b], clip.samples, sizeof(float) * (size_t)clip.n_samples);
            w->samples[b] = w->bufs[b];
            w->lengths[b] = clip.n_samples;
            w->decoded[b] = 1;
            if (w->long_ctx != NULL && clip.n_samples >= long_samples && r->params.fixed_length == 0) {
                /* Alone on the all-cores plan; same results (batching and threads change nothing). */
                batch one = {.first = first + b, .count = 1, .samples = &w->samples[b], .lengths = &w->lengths[b],
                             .decoded = &w->decoded[b]};
                pthread_mutex_lock(w->long_mu);
                compute_batch(w->long_ctx, &one);
                pthread_mutex_unlock(w->long_mu);
                w->decoded[b] = 0;
                w->samples[b] = NULL;
                w->lengths[b] = 0;
            }
        }
        compute_batch(&w->ctx, &bt);
    }
    pthread_mutex_lock(&r->mu);
    r->workers_left--;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* Pipeline mode (CUDA)                                                                           */
/* ---------------------------------------------------------------------------------------------- */

typedef struct pipeline {
    job_run *r;
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    batch *head, *tail;
    int queued, capacity, producers;
} pipeline;

static void free_batch(batch *bt)
{
    if (bt == NULL)
        return;
    for (int b = 0; b < bt->count; b++)
        free(bt->owned[b]);
    free(bt->owned);
    free(bt->samples);
    free(bt->lengths);
    free(bt->decoded);
    free(bt);
}

static void *decoder_main(void *arg)
{
    pipeline *pl = arg;
    job_run *r = pl->r;
    afx_audio_decoder *dec = NULL;
    char err[AFX_ERROR_MAX];
    if (afx_audio_decoder_create(&dec, err, sizeof err) != AFX_OK)
        dec = NULL;
    int64_t first;
    int count;
    while (dec != NULL && take_batch(r, &first, &count)) {
        batch *bt = calloc(1, sizeof *bt);
        if (bt != NULL) {
            bt->owned = calloc((size_t)count, sizeof *bt->owned);
            bt->samples = calloc((size_t)count, sizeof *bt->samples);
            bt->lengths = calloc((size_t)count, sizeof *bt->lengths);
            bt->decoded = calloc((size_t)count, sizeof *bt->decoded);
        }
        if (bt == NULL || !bt->owned || !bt->samples || !bt->lengths || !bt->decoded) {
            for (int b = 0; b < count; b++)
                fail_clip(r, first + b, "out of memory for a batch");
            if (bt != NULL)
                bt->count = 0;
            free_batch(bt);
            continue;
        }
        bt->first = first;
        bt->count = count;
        for (int b = 0; b < count; b++) {
            afx_audio_clip clip;
            if (decode_clip(r, dec, first + b, &clip, err, sizeof err) != AFX_OK) {
                fail_clip(r, first + b, err);
                continue;
            }
            bt->owned[b] = malloc(sizeof(float) * (size_t)(clip.n_samples > 0 ? clip.n_samples : 1));
            if (bt->owned[b] == NULL) {
                fail_clip(r, first + b, "out of memory for the samples");
                continue;
            }
            if (clip.n_samples > 0)
                memcpy(bt->owned[b], clip.samples, sizeof(float) * (size_t)clip.n_samples);
            bt->samples[b] = bt->owned[b];
            bt->lengths[b] = clip.n_samples;
            bt->decoded[b] = 1;
        }
        pthread_mutex_lock(&pl->mu);
        while (pl->queued >= pl->capacity)
            pthread_cond_wait(&pl->not_full, &pl->mu);
        if (pl->tail)
            pl->tail->next = bt;
        else
            pl->head = bt;
        pl->tail = bt;
        pl->queued++;
        pthread_cond_signal(&pl->not_empty);
        pthread_mutex_unlock(&pl->mu);
    }
    if (dec == NULL) { /* every clip this thread would take fails alike */
        while (take_batch(r, &first, &count))
            for (int b = 0; b < count; b++)
                fail_clip(r, first + b, err);
    }
    afx_audio_decoder_free(dec);
    pthread_mutex_lock(&pl->mu);
    pl->producers--;
    pthread_cond_broadcast(&pl->not_empty);
    pthread_mutex_unlock(&pl->mu);
    pthread_mutex_lock(&r->mu);
    r->workers_left--;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

typedef struct gpu_thread {
    pipeline *pl;
    compute_ctx ctx;
} gpu_thread;

/* Runs up to PIPELINE_DEPTH queued batches per afx_plan_execute_batches call. */
static void *compute_main(void *arg)
{
    gpu_thread *g = arg;
    pipeline *pl = g->pl;
    compute_ctx *x = &g->ctx;
    job_run *r = pl->r;
    float *outs[PIPELINE_DEPTH] = {0};
    size_t caps[PIPELINE_DEPTH] = {0};
    int64_t *frames[PIPELINE_DEPTH];
    for (int k = 0; k < PIPELINE_DEPTH; k++)
        frames[k] = calloc((size_t)r->params.max_batch, sizeof(int64_t));
    for (;;) {
        batch *group[PIPELINE_DEPTH];
        int n = 0;
        pthread_mutex_lock(&pl->mu);
        while (pl->queued == 0 && pl->producers > 0)
            pthread_cond_wait(&pl->not_empty, &pl->mu);
        while (n < PIPELINE_DEPTH && pl->head != NULL) {
            group[n++] = pl->head;
            pl->head = pl->head->next;
            pl->queued--;
        }
        if (pl->head == NULL)
            pl->tail = NULL;
        pthread_cond_broadcast(&pl->not_full);
        pthread_mutex_unlock(&pl->mu);
        if (n == 0)
            break;

        int64_t longest = 0;
        for (int k = 0; k < n; k++)
            for (int b = 0; b < group[k]->count; b++)
                if (group[k]->decoded[b] && group[k]->lengths[b] > longest)
                    longest = group[k]->lengths[b];
        char err[AFX_ERROR_MAX];
        afx_status fit = ctx_fit(x, longest, err, sizeof err);
        afx_input in[PIPELINE_DEPTH];
        afx_output out[PIPELINE_DEPTH];
        int ok_shapes = fit == AFX_OK;
        for (int k = 0; k < n && ok_shapes; k++) {
            batch *bt = group[k];
            in[k] = (afx_input){.format = AFX_SAMPLE_F32, .n_channels = 1, .clips = (const void *const *)bt->samples,
                                .lengths = bt->lengths, .n_clips = bt->count, .first_clip_index = (uint64_t)bt->first};
            int64_t max_frames = 0;
            ok_shapes = frames[k] != NULL && afx_plan_output_shape(x->plan, &in[k], NULL, &max_frames) == AFX_OK &&
                        reserve(&outs[k], &caps[k], afx_plan_output_size(x->plan, bt->count, max_frames)) == 0;
            out[k] = (afx_output){.data = outs[k], .frames_stride = max_frames, .n_frames = frames[k]};
        }
        if (!ok_shapes) {
            /* One by one: each batch then gets its own message. */
            for (int k = 0; k < n; k++)
                compute_batch(x, group[k]);
        } else {
            int done = 0;
            afx_status s = afx_plan_execute_batches(x->plan, in, out, n, &done);
            for (int k = 0; k < n; k++) {
                if (k < done) {
                    /* A completed batch: OK, or refused NaN/Inf clips (n_frames -1) among computed ones. */
                    afx_status bs = AFX_OK;
                    for (int b = 0; s != AFX_OK && b < group[k]->count; b++)
                        if (group[k]->decoded[b] && frames[k][b] < 0)
                            bs = AFX_ERR_INVALID_INPUT;
                    batch_results(x, group[k], bs, outs[k], out[k].frames_stride, frames[k]);
                } else {
                    compute_batch(x, group[k]); /* not run: alone, with its own status and message */
                }
            }
        }
        for (int k = 0; k < n; k++)
            free_batch(group[k]);
    }
    for (int k = 0; k < PIPELINE_DEPTH; k++) {
        free(outs[k]);
        free(frames[k]);
    }
    pthread_mutex_lock(&r->mu);
    r->workers_left--;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
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
        u->ih = unit_hash(r, u);
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
        char *path = unit_path(r, u);
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
        unit_of(r, i)->pending++;
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
            fail_clip(r, i, r->items.v[i].error);
        else
            r->todo[kept++] = i;
    }
    r->n_todo = kept;
}

/* Threads per plan: all cores for the batches there are, when there are fewer batches than jobs. */
static int plan_threads(const job_run *r, int workers)
{
    int t = r->cfg->jobs / (workers > 0 ? workers : 1);
    return t < 1 ? 1 : t;
}

/* Number of batches in the todo list (consecutive runs cut at max_batch). */
static int64_t count_batches(const job_run *r)
{
    int64_t n = 0;
    for (int64_t p = 0; p < r->n_todo;) {
        int c = 1;
        while (c < r->params.max_batch && p + c < r->n_todo && r->todo[p + c] == r->todo[p + c - 1] + 1)
            c++;
        p += c;
        n++;
    }
    return n;
}

/* ---------------------------------------------------------------------------------------------- */
/* Running                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

/* Fails every clip not handed out yet with `msg` (the threads could not be set up). */
static void fail_rest(job_run *r, const char *msg)
{
    int64_t first;
    int count;
    while (take_batch(r, &first, &count))
        for (int b = 0; b < count; b++)
            fail_clip(r, first + b, msg);
}

static void free_workers(job_run *r, worker *ws, int n)
{
    for (int k = 0; ws != NULL && k < n; k++) {
        worker *w = &ws[k];
        for (int b = 0; w->bufs && b < r->params.max_batch; b++)
            free(w->bufs[b]);
        free(w->bufs);
        free(w->caps);
        free(w->samples);
        free(w->lengths);
        free(w->decoded);
        afx_audio_decoder_free(w->dec);
        ctx_free(&w->ctx);
    }
    free(ws);
}

/* Prepares the workers mode's threads (plans, decoders, buffers). 0 or -1 with err. */
static int prepare_workers(job_run *r, worker *ws, int n_workers, compute_ctx *long_ctx, pthread_mutex_t *long_mu,
                           char *err, size_t err_size)
{
    int jobs = r->cfg->jobs;
    int have_long = jobs > 1 && n_workers > 1;
    if (have_long && ctx_init(long_ctx, r, jobs, err, err_size) != 0)
        return -1;
    for (int k = 0; k < n_workers; k++) {
        worker *w = &ws[k];
        size_t mb = (size_t)r->params.max_batch;
        w->r = r;
        w->long_ctx = have_long ? long_ctx : NULL;
        w->long_mu = long_mu;
        w->bufs = calloc(mb, sizeof *w->bufs);
        w->caps = calloc(mb, sizeof *w->caps);
        w->samples = calloc(mb, sizeof *w->samples);
        w->lengths = calloc(mb, sizeof *w->lengths);
        w->decoded = calloc(mb, sizeof *w->decoded);
        if (!w->bufs || !w->caps || !w->samples || !w->lengths || !w->decoded) {
            snprintf(err, err_size, "out of memory");
            return -1;
        }
        if (ctx_init(&w->ctx, r, plan_threads(r, n_workers), err, err_size) != 0 ||
            afx_audio_decoder_create(&w->dec, err, err_size) != AFX_OK)
            return -1;
    }
    return 0;
}

/* Waits for the threads with progress, then joins them. */
static void wait_threads(job_run *r, pthread_t *threads, int started)
{
    pthread_mutex_lock(&r->mu);
    while (r->workers_left > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        afx_progress_tick(r, 0);
    }
    afx_progress_tick(r, 1);
    pthread_mutex_unlock(&r->mu);
    for (int k = 0; k < started; k++)
        pthread_join(threads[k], NULL);
}

/* Starts the threads of the mode, waits for them with progress, joins them. 0, or -1 when the threads could
 * not be set up (the clips left are failed with the reason). */
static int run_threads(job_run *r)
{
    const afx_job_config *cfg = r->cfg;
    int64_t n_batches = count_batches(r);
    if (n_batches == 0)
        return 0;
    int jobs = cfg->jobs < 1 ? 1 : cfg->jobs;
    int n_workers = n_batches < jobs ? (int)n_batches : jobs;
    char err[AFX_ERROR_MAX + 64] = "out of memory";
    pthread_t *threads = calloc((size_t)n_workers + 1, sizeof *threads);
    int started = 0, status = 0;

    if (!cfg->pipeline) {
        worker *ws = calloc((size_t)n_workers, sizeof *ws);
        compute_ctx long_ctx;
        memset(&long_ctx, 0, sizeof long_ctx);
        pthread_mutex_t long_mu = PTHREAD_MUTEX_INITIALIZER;
        if (threads == NULL || ws == NULL ||
            prepare_workers(r, ws, n_workers, &long_ctx, &long_mu, err, sizeof err) != 0) {
            status = -1;
        }
        for (int k = 0; k < n_workers && status == 0; k++) {
            pthread_mutex_lock(&r->mu);
            int ok = pthread_create(&threads[k], NULL, worker_main, &ws[k]) == 0;
            r->workers_left += ok;
            pthread_mutex_unlock(&r->mu);
            if (!ok)
                break; /* the threads started take every batch */
            started++;
        }
        if (status == 0 && started == 0) {
            snprintf(err, sizeof err, "cannot start a thread: %s", strerror(errno));
            status = -1;
        }
        if (status != 0) {
            char msg[AFX_ERROR_MAX + 128];
            snprintf(msg, sizeof msg, "not computed: %s", err);
            fail_rest(r, msg);
        }
        wait_threads(r, threads, started);
        free_workers(r, ws, n_workers);
        ctx_free(&long_ctx);
        free(threads);
        return status;
    }

    pipeline pl;
    gpu_thread gpu;
    memset(&pl, 0, sizeof pl);
    memset(&gpu, 0, sizeof gpu);
    pl.r = r;
    pthread_mutex_init(&pl.mu, NULL);
    pthread_cond_init(&pl.not_empty, NULL);
    pthread_cond_init(&pl.not_full, NULL);
    pl.capacity = PIPELINE_DEPTH * (n_workers > 1 ? n_workers : 2);
    pl.producers = n_workers;
    gpu.pl = &pl;
    if (threads == NULL || ctx_init(&gpu.ctx, r, jobs, err, sizeof err) != 0) {
        status = -1;
    } else {
        /* The compute thread first: decode threads only ever wait for it. */
        pthread_mutex_lock(&r->mu);
        int ok = pthread_create(&threads[0], NULL, compute_main, &gpu) == 0;
        r->workers_left += ok;
        pthread_mutex_unlock(&r->mu);
        if (!ok) {
            snprintf(err, sizeof err, "cannot start a thread: %s", strerror(errno));
            status = -1;
        } else {
            started = 1;
        }
    }
    for (int k = 0; k < n_workers && status == 0; k++) {
        pthread_mutex_lock(&r->mu);
        int ok = pthread_create(&threads[started], NULL, decoder_main, &pl) == 0;
        r->workers_left += ok;
        pthread_mutex_unlock(&r->mu);
        if (!ok) {
            pthread_mutex_lock(&pl.mu);
            pl.producers -= n_workers - k; /* those never started */
            pthread_cond_broadcast(&pl.not_empty);
            pthread_mutex_unlock(&pl.mu);
            if (k == 0) {
                snprintf(err, sizeof err, "cannot start a thread: %s", strerror(errno));
                status = -1;
            }
            break;
        }
        started++;
    }
    if (status != 0) {
        char msg[AFX_ERROR_MAX + 128];
        snprintf(msg, sizeof msg, "not computed: %s", err);
        fail_rest(r, msg);
        if (started == 1) { /* the compute thread waits for producers that never came */
            pthread_mutex_lock(&pl.mu);
            pl.producers = 0;
            pthread_cond_broadcast(&pl.not_empty);
            pthread_mutex_unlock(&pl.mu);
        }
    }
    wait_threads(r, threads, started);
    ctx_free(&gpu.ctx);
    pthread_mutex_destroy(&pl.mu);
    pthread_cond_destroy(&pl.not_empty);
    pthread_cond_destroy(&pl.not_full);
    free(threads);
    return status;
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
    probe.max_samples = initial_max_samples(&r->params);
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
    int threads_status = run_threads(r);
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
