/*
 * compute.c: the threads of a job (runner.c sets it up): batching, decoding, plans, and the two modes.
 *
 * CPU backend ("workers" mode): --jobs threads, each with its own afx_audio_decoder and afx_plan, take
 * batches of consecutive clips (consecutive global indices, so dither and masks are keyed exactly as in a
 * single process), decode them, compute them and hand each clip's features to its output (units.c). A plan
 * gets cpu_threads = jobs / workers when there are fewer batches than workers, and a clip longer than
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

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "afx_audio.h"
#include "run.h"

/* Seconds of audio a plan is first sized for; it grows geometrically when a longer clip comes. */
#define INITIAL_PLAN_SECONDS 30
/* Upper limit of afx_params.max_samples (2^40, see afx.h). */
#define MAX_PLAN_SAMPLES ((int64_t)1 << 40)
/* A clip at least this long runs alone on the all-cores plan (workers mode). */
#define LONG_CLIP_SECONDS 60
/* Batches per afx_plan_execute_batches call, and queued batches per decode thread (pipeline mode). */
#define PIPELINE_DEPTH 4

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
int64_t afx_run_initial_max_samples(const afx_params *p)
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
    x->params.max_samples = afx_run_initial_max_samples(&r->params);
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


/* A decoded batch: clips [first, first + count) of the todo list's global indices. */
typedef struct batch {
    int64_t first;        /* global index of clip 0 */
    int count;
    const void **samples; /* [count] (NULL when not decoded), in `format` with `n_channels` interleaved */
    int64_t *lengths;     /* [count] samples per channel */
    int *decoded;         /* [count] 1 when the clip takes part */
    afx_sample_format format; /* F32 mono (decoded, downmixed, resampled), or S16 with the files' channels */
    int n_channels;
    struct batch *next;   /* pipeline queue link */
    void **owned;         /* pipeline: malloc'd copies; workers: NULL */
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
    afx_input in = {.format = bt->format, .n_channels = bt->n_channels, .clips = clips, .lengths = lengths, .n_clips = 1,
                    .first_clip_index = (uint64_t)(bt->first + b)};
    int64_t maxf = 0;
    afx_plan_output_shape(x->plan, &in, NULL, &maxf);
    if (afx_run_reserve(&x->out, &x->out_cap, afx_plan_output_size(x->plan, 1, maxf)) == 0) {
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
            afx_run_fail_clip(r, i, afx_plan_error(x->plan));
        } else if (n_frames[b] < 0) {
            char msg[AFX_ERROR_MAX];
            refused_message(x, bt, b, msg, sizeof msg);
            afx_run_fail_clip(r, i, msg);
        } else {
            afx_run_deliver(r, i, out + (size_t)b * per_clip, stride, n_frames[b],
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
                afx_run_fail_clip(x->r, bt->first + b, err);
        return;
    }
    afx_input in = {.format = bt->format, .n_channels = bt->n_channels, .clips = (const void *const *)bt->samples,
                    .lengths = bt->lengths, .n_clips = bt->count, .first_clip_index = (uint64_t)bt->first};
    int64_t max_frames = 0;
    afx_status s = afx_plan_output_shape(x->plan, &in, NULL, &max_frames);
    if (s == AFX_OK && afx_run_reserve(&x->out, &x->out_cap, afx_plan_output_size(x->plan, bt->count, max_frames)) != 0) {
        for (int b = 0; b < bt->count; b++)
            if (bt->decoded[b])
                afx_run_fail_clip(x->r, bt->first + b, "out of memory for the batch output");
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

static afx_status decode_clip(job_run *r, afx_audio_decoder *dec, int64_t i, int keep_int16, afx_audio_clip *clip,
                              char *err, size_t err_size)
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
    o.keep_int16 = keep_int16;
    o.threads = r->cfg->jobs > 1 ? 2 : 1; /* a long clip: decoded on a helper while this thread resamples */
    if (r->cfg->max_duration >= 0.0) o.max_duration_seconds = r->cfg->max_duration;
    /* "-": standard input, which the loader reads whole into memory as any pipe (up to max_stream_bytes). */
    const char *path = strcmp(it->path, "-") == 0 ? "/dev/stdin" : it->path;
    return afx_audio_decoder_load_file(dec, path, &o, clip, err, err_size);
}

/* Bytes of a decoded clip's samples. */
static size_t clip_bytes(const afx_audio_clip *c)
{
    return c->sample_format == AFX_SAMPLE_S16 ? sizeof(int16_t) * (size_t)c->n_samples * (size_t)c->n_channels
                                              : sizeof(float) * (size_t)c->n_samples * (size_t)c->n_channels;
}

/* Grows a byte buffer to n bytes (at least 1). 0 or -1. */
static int reserve_bytes(void **buf, size_t *cap, size_t n)
{
    if (n == 0)
        n = 1;
    if (n <= *cap)
        return 0;
    void *p = realloc(*buf, n);
    if (p == NULL)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/*
 * Decodes clip first + b of a batch into (*buf, *cap): 16-bit PCM files that need no resampling stay int16
 * with their channels (keep_int16: half the memory and, on the CUDA backend, half the PCIe bytes; the library
 * downmixes them to the same bits, see afx_audio.h), everything else is float32 mono. The batch takes one
 * format: the first clip's; a clip that comes in another format (or with another channel count) makes the
 * whole batch float32 mono (settle_batch decodes its int16 clips again). Returns 1 if decoded, 0 if failed.
 */
static int decode_into(job_run *r, afx_audio_decoder *dec, batch *bt, int b, int keep_int16, void **buf,
                       size_t *cap, int *mixed)
{
    char err[AFX_ERROR_MAX];
    afx_audio_clip clip;
    afx_status s = decode_clip(r, dec, bt->first + b, keep_int16, &clip, err, sizeof err);
    bt->decoded[b] = 0;
    bt->samples[b] = NULL;
    bt->lengths[b] = 0;
    if (s != AFX_OK) {
        afx_run_fail_clip(r, bt->first + b, err);
        return 0;
    }
    if (reserve_bytes(buf, cap, clip_bytes(&clip)) != 0) {
        afx_run_fail_clip(r, bt->first + b, "out of memory for the samples");
        return 0;
    }
    if (clip.n_samples > 0)
        memcpy(*buf, clip.sample_format == AFX_SAMPLE_S16 ? (const void *)clip.samples_s16 : (const void *)clip.samples,
               clip_bytes(&clip));
    int ch = clip.n_samples > 0 ? clip.n_channels : bt->n_channels;
    afx_sample_format f = clip.n_samples > 0 ? clip.sample_format : bt->format;
    if (bt->n_channels == 0) { /* the batch's first clip */
        bt->format = f;
        bt->n_channels = ch > 0 ? ch : 1;
    } else if (f != bt->format || ch != bt->n_channels) {
        *mixed = 1;
    }
    bt->samples[b] = *buf;
    bt->lengths[b] = clip.n_samples;
    bt->decoded[b] = 1;
    return 1;
}

/* A mixed batch (see decode_into) is decoded again as float32 mono: rare (a corpus of one kind of file never
 * mixes), and simpler than keeping each clip's format. */
static void settle_batch(job_run *r, afx_audio_decoder *dec, batch *bt, void **bufs, size_t *caps, int mixed)
{
    if (!mixed)
        return;
    bt->format = AFX_SAMPLE_F32;
    bt->n_channels = 1;
    for (int b = 0; b < bt->count; b++) {
        int again = 0;
        if (bt->decoded[b])
            decode_into(r, dec, bt, b, 0, &bufs[b], &caps[b], &again);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Workers mode (CPU)                                                                             */
/* ---------------------------------------------------------------------------------------------- */

typedef struct worker {
    job_run *r;
    compute_ctx ctx;
    compute_ctx *long_ctx;       /* shared all-cores plan, NULL when jobs == 1 */
    pthread_mutex_t *long_mu;
    afx_audio_decoder *dec;
    void **bufs;                 /* [max_batch] sample copies (the decoder lends one clip at a time) */
    size_t *caps;                /* their sizes in bytes */
    const void **samples;
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
                    .decoded = w->decoded, .format = AFX_SAMPLE_F32, .n_channels = 0};
        int mixed = 0;
        for (int b = 0; b < count; b++)
            decode_into(r, w->dec, &bt, b, 1, &w->bufs[b], &w->caps[b], &mixed);
        settle_batch(r, w->dec, &bt, w->bufs, w->caps, mixed);
        for (int b = 0; b < count; b++) {
            if (w->decoded[b] && w->long_ctx != NULL && w->lengths[b] >= long_samples && r->params.fixed_length == 0) {
                /* Alone on the all-cores plan; same results (batching and threads change nothing). */
                batch one = {.first = first + b, .count = 1, .samples = &w->samples[b], .lengths = &w->lengths[b],
                             .decoded = &w->decoded[b], .format = bt.format, .n_channels = bt.n_channels};
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
                afx_run_fail_clip(r, first + b, "out of memory for a batch");
            if (bt != NULL)
                bt->count = 0;
            free_batch(bt);
            continue;
        }
        bt->first = first;
        bt->count = count;
        bt->format = AFX_SAMPLE_F32;
        bt->n_channels = 0;
        size_t *caps = calloc((size_t)count, sizeof *caps);
        int mixed = 0;
        for (int b = 0; b < count; b++) {
            if (caps == NULL) {
                afx_run_fail_clip(r, first + b, "out of memory for a batch");
                continue;
            }
            decode_into(r, dec, bt, b, 1, &bt->owned[b], &caps[b], &mixed);
        }
        if (caps != NULL)
            settle_batch(r, dec, bt, bt->owned, caps, mixed);
        free(caps);
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
                afx_run_fail_clip(r, first + b, err);
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
            in[k] = (afx_input){.format = bt->format, .n_channels = bt->n_channels,
                                .clips = (const void *const *)bt->samples, .lengths = bt->lengths,
                                .n_clips = bt->count, .first_clip_index = (uint64_t)bt->first};
            int64_t max_frames = 0;
            ok_shapes = frames[k] != NULL && afx_plan_output_shape(x->plan, &in[k], NULL, &max_frames) == AFX_OK &&
                        afx_run_reserve(&outs[k], &caps[k], afx_plan_output_size(x->plan, bt->count, max_frames)) == 0;
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
            afx_run_fail_clip(r, first + b, msg);
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
int afx_run_threads(job_run *r)
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

