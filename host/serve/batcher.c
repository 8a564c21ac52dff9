/*
 * batcher.c: the job queue and the workers of `afx serve` (see batcher.h for the batching rule).
 *
 * A worker owns an audio decoder and a few plans (one per parameter key it has seen recently, grown
 * geometrically to the longest clip, like `afx extract` does), and for each batch: turns every job's
 * input into float32 mono clips at the features' rate, runs one afx_plan_execute, and copies each
 * job's clips into the job's own output (its own frames stride), then calls the job's finish.
 */
#define _POSIX_C_SOURCE 200809L

#include "batcher.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "afx_audio.h"

/* Plans a worker keeps (one per parameter key), the least recently used one is freed first. */
#define PLANS_PER_WORKER 8

double serve_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct cached_plan {
    char *key;
    afx_plan *plan;
    int64_t max_samples;
    uint64_t last_used;
} cached_plan;

typedef struct worker {
    struct serve_batcher *b;
    int index;
    pthread_t thread;
    int started;
    afx_audio_decoder *decoder;
    cached_plan plans[PLANS_PER_WORKER];
    uint64_t tick;
    /* batch forming, guarded by the batcher's mutex */
    const char *forming_key; /* key of the batch this worker is filling, NULL when not forming */
    int forming_clips;
    int forming_cap;         /* clips this batch may hold (max_batch, or the worker's fair share of the queue) */
    int busy_clips;          /* clips taken and not finished */
    /* per-batch scratch, grown as needed */
    float **clip_data;       /* [max_batch] owned clips */
    const void **ptrs;
    int64_t *lengths, *n_frames;
    void *out;
    size_t out_bytes;
} worker;

struct serve_batcher {
    serve_batcher_config cfg;
    serve_metrics *metrics;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    serve_job *head, *tail;
    int queued_clips;
    int stopping; /* 1: no new jobs; workers exit when the queue is empty */
    worker *workers;
};

/* ---------------------------------------------------------------------------------------------- */
/* Job completion                                                                                 */
/* ---------------------------------------------------------------------------------------------- */

static void job_fail(serve_job *job, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void job_fail(serve_job *job, int status, const char *fmt, ...)
{
    job->http_status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(job->error, sizeof job->error, fmt, ap);
    va_end(ap);
    /* one line: a message from a library may hold a newline */
    for (char *c = job->error; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
}

static void job_finish(serve_job *job)
{
    if (job->http_status != 0) {
        free(job->out);
        free(job->n_frames);
        free(job->n_samples);
        job->out = NULL;
        job->n_frames = job->n_samples = NULL;
    }
    job->finish(job);
}

/* ---------------------------------------------------------------------------------------------- */
/* Queue                                                                                          */
/* ---------------------------------------------------------------------------------------------- */

int serve_batcher_submit(serve_batcher *b, serve_job *job)
{
    job->next = NULL;
    job->http_status = 0;
    job->error[0] = '\0';
    job->out = NULL;
    job->n_frames = job->n_samples = NULL;
    job->t_enqueue = serve_now();
    job->deadline = job->t_enqueue + b->cfg.request_timeout_s;
    pthread_mutex_lock(&b->mu);
    int status = 0;
    if (b->stopping) status = 503;
    else if (b->queued_clips > 0 && b->queued_clips + job->n_clips > b->cfg.max_queue_clips)
        status = 429; /* an empty queue takes any job, or a batch larger than --max-queue could never run */
    else {
        if (b->tail) b->tail->next = job;
        else b->head = job;
        b->tail = job;
        b->queued_clips += job->n_clips;
        pthread_cond_broadcast(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    return status;
}

/* Unlinks `job` (whose predecessor is `prev`, NULL for the head). Lock held. */
static void unlink_job(serve_batcher *b, serve_job *prev, serve_job *job)
{
    if (prev) prev->next = job->next;
    else b->head = job->next;
    if (b->tail == job) b->tail = prev;
    job->next = NULL;
    b->queued_clips -= job->n_clips;
}

void serve_batcher_expire(serve_batcher *b, double now)
{
    serve_job *expired = NULL, **last = &expired;
    pthread_mutex_lock(&b->mu);
    serve_job *prev = NULL, *j = b->head;
    while (j) {
        serve_job *next = j->next;
        if (now >= j->deadline) {
            unlink_job(b, prev, j);
            *last = j;
            last = &j->next;
        } else {
            prev = j;
        }
        j = next;
    }
    pthread_mutex_unlock(&b->mu);
    while (expired) {
        serve_job *next = expired->next;
        job_fail(expired, 503, "the request waited %.1f s in the queue without a free worker (afx serve "
                 "--request-timeout %.0f); retry later", now - expired->t_enqueue, b->cfg.request_timeout_s);
        job_finish(expired);
        expired = next;
    }
}

int serve_batcher_queued(serve_batcher *b)
{
    pthread_mutex_lock(&b->mu);
    int n = b->queued_clips;
    pthread_mutex_unlock(&b->mu);
    return n;
}

int serve_batcher_busy(serve_batcher *b)
{
    pthread_mutex_lock(&b->mu);
    int n = b->queued_clips;
    for (int i = 0; i < b->cfg.n_workers; i++) n += b->workers[i].busy_clips;
    pthread_mutex_unlock(&b->mu);
    return n;
}

/* 1 when another worker is filling a batch that `job` can join: leave it to that worker. Lock held. */
static int reserved_for_other(const serve_batcher *b, const worker *self, const serve_job *job)
{
    if (serve_params_randomized(&job->params)) return 0;
    for (int i = 0; i < b->cfg.n_workers; i++) {
        const worker *w = &b->workers[i];
        if (w != self && w->forming_key && w->forming_clips + job->n_clips <= w->forming_cap &&
            strcmp(w->forming_key, job->key) == 0)
            return 1;
    }
    return 0;
}

/* Moves queued jobs of the forming key into the batch while they fit. Lock held. */
static void gather_same_key(serve_batcher *b, worker *w, serve_job ***tail)
{
    serve_job *prev = NULL, *j = b->head;
    while (j && w->forming_clips < w->forming_cap) {
        serve_job *next = j->next;
        if (!serve_params_randomized(&j->params) && w->forming_clips + j->n_clips <= w->forming_cap &&
            strcmp(j->key, w->forming_key) == 0) {
            unlink_job(b, prev, j);
            **tail = j;
            *tail = &j->next;
            w->forming_clips += j->n_clips;
        } else {
            prev = j;
        }
        j = next;
    }
}

/* Absolute CLOCK_REALTIME time `seconds` from now, for pthread_cond_timedwait. */
static struct timespec realtime_in(double seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double whole = floor(seconds);
    ts.tv_sec += (time_t)whole;
    ts.tv_nsec += (long)((seconds - whole) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/*
 * Waits for work and forms the next batch: a list of jobs (linked through next). Returns NULL when
 * the batcher stops and the queue is empty. Lock held on entry and exit.
 */
static serve_job *take_batch(serve_batcher *b, worker *w)
{
    serve_job *head = NULL, *prev = NULL;
    for (;;) {
        prev = NULL;
        for (head = b->head; head && reserved_for_other(b, w, head); head = head->next) prev = head;
        if (head) break;
        if (b->stopping && !b->head) return NULL;
        pthread_cond_wait(&b->cv, &b->mu);
    }
    unlink_job(b, prev, head);
    w->busy_clips = head->n_clips;
    if (serve_params_randomized(&head->params)) return head; /* its own batch (batcher.h) */

    serve_job **tail = &head->next;
    w->forming_key = head->key;
    w->forming_clips = head->n_clips;
    /* A worker computes its batch's clips one after the other, so a batch larger than its share of the
     * queue leaves the other workers idle while its clients wait: with several workers, take at most a fair
     * share (one worker per GPU keeps max_batch, where a larger batch is what makes the device fast). */
    w->forming_cap = b->cfg.max_batch;
    if (b->cfg.n_workers > 1) {
        int share = (b->queued_clips + head->n_clips + b->cfg.n_workers - 1) / b->cfg.n_workers;
        if (share < w->forming_cap) w->forming_cap = share;
        if (w->forming_cap < head->n_clips) w->forming_cap = head->n_clips;
    }
    double until = head->t_enqueue + 1e-6 * (double)b->cfg.max_queue_delay_us;
    for (;;) {
        gather_same_key(b, w, &tail);
        if (w->forming_clips >= w->forming_cap || b->stopping) break;
        double left = until - serve_now();
        if (left <= 0) break;
        struct timespec ts = realtime_in(left);
        pthread_cond_timedwait(&b->cv, &b->mu, &ts);
    }
    w->busy_clips = w->forming_clips;
    w->forming_key = NULL;
    w->forming_clips = 0;
    pthread_cond_broadcast(&b->cv); /* jobs left to this worker are free for the others again */
    return head;
}

/* ---------------------------------------------------------------------------------------------- */
/* Inputs -> float32 mono clips                                                                   */
/* ---------------------------------------------------------------------------------------------- */

/* Mean over channels in float32, as afx_audio downmixes (librosa.to_mono's order). In place. */
static void downmix(float *x, int64_t n, int ch)
{
    for (int64_t i = 0; i < n; i++) {
        float acc = 0.0f;
        for (int c = 0; c < ch; c++) acc += x[i * ch + c];
        x[i] = acc / (float)ch;
    }
}

/* Index of the first non-finite sample of x[0..n), or -1. */
static int64_t first_non_finite(const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

/* Resamples a mono clip from `rate` to `target` (soxr HQ, afx_audio_resample), replacing *x. */
static int resample_clip(serve_job *job, float **x, int64_t *n, int rate, int target, const char *what)
{
    if (rate == target || *n == 0) return 0;
    char err[AFX_ERROR_MAX];
    float *y = NULL;
    int64_t m = 0;
    if (afx_audio_resample(*x, *n, 1, rate, target, &y, &m, err, sizeof err) != AFX_OK) {
        job_fail(job, 400, "%s: resampling from %d Hz to %d Hz failed: %s", what, rate, target, err);
        return -1;
    }
    free(*x);
    *x = y;
    *n = m;
    return 0;
}

/* Checks a clip against the length limit. */
static int check_length(serve_job *job, int64_t n, int64_t max_samples, const char *what)
{
    if (n <= max_samples) return 0;
    int rate = job->params.sample_rate;
    job_fail(job, 413, "%s is %.2f s long at %d Hz; this server takes clips of at most %.2f s (afx serve --max-clip-seconds)",
             what, (double)n / rate, rate, (double)max_samples / rate);
    return -1;
}

/* Decoded raw PCM bytes -> *x (interleaved float32), *n samples per channel. */
static int convert_pcm(serve_job *job, float **x, int64_t *n)
{
    const serve_media *m = &job->media;
    size_t bps = (size_t)serve_pcm_sample_bytes(m->pcm), frame = bps * (size_t)m->channels;
    if (job->n_bytes % frame != 0) {
        job_fail(job, 400, "raw PCM body of %zu bytes is not a whole number of %zu-byte frames (%d channel(s) of %zu bytes): "
                 "truncated?", job->n_bytes, frame, m->channels, bps);
        return -1;
    }
    size_t count = job->n_bytes / bps;
    *n = (int64_t)(job->n_bytes / frame);
    *x = malloc((count ? count : 1) * sizeof(float));
    if (!*x) {
        job_fail(job, 503, "out of memory for %zu samples", count);
        return -1;
    }
    const unsigned char *p = job->bytes;
    for (size_t i = 0; i < count; i++, p += bps) {
        if (m->pcm == SERVE_PCM_F32LE) {
            uint32_t u = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
            memcpy(&(*x)[i], &u, sizeof u);
        } else {
            const unsigned hi = m->pcm == SERVE_PCM_S16BE ? p[0] : p[1], lo = m->pcm == SERVE_PCM_S16BE ? p[1] : p[0];
            const uint16_t u = (uint16_t)((hi << 8) | lo);
            (*x)[i] = (float)(int16_t)u / 32768.0f; /* libsndfile's and afx's int16 scale */
        }
    }
    return 0;
}

/*
 * Turns the job's input into n_clips owned float32 mono clips at params.sample_rate in w->clip_data[at ...]
 * with their lengths in w->lengths[at ...]. On failure the job is failed (not finished) and -1 returned.
 */
static int prepare_job(worker *w, serve_job *job, int at)
{
    const int rate = job->params.sample_rate;
    const int64_t max_samples = job->params.max_samples;
    for (int c = 0; c < job->n_clips; c++) w->clip_data[at + c] = NULL;

    if (job->input == SERVE_INPUT_BYTES && job->media.pcm == SERVE_PCM_NONE) {
        afx_audio_options o;
        afx_audio_options_init(&o);
        o.target_rate = rate;
        o.downmix = 1;
        o.max_samples = max_samples;
        afx_audio_clip clip;
        char err[AFX_ERROR_MAX];
        afx_status s = afx_audio_decoder_load_memory(w->decoder, job->bytes, job->n_bytes, "request body", &o, &clip, err,
                                                     sizeof err);
        if (s == AFX_ERR_EXCEEDS_PLAN) {
            job_fail(job, 413, "%s (afx serve --max-clip-seconds %g)", err, (double)job->params.max_samples / (double)rate);
            return -1;
        }
        if (s != AFX_OK) {
            job_fail(job, s == AFX_ERR_OUT_OF_MEMORY ? 503 : s == AFX_ERR_INVALID_INPUT ? 422 : 400,
                     "%s%s", err, s == AFX_ERR_DECODE || s == AFX_ERR_IO ? " (not an audio file libsndfile decodes, or corrupt)" : "");
            return -1;
        }
        /* The clip borrows the decoder's memory: copy it, the batch holds several clips at once. */
        float *x = malloc((size_t)(clip.n_samples > 0 ? clip.n_samples : 1) * sizeof(float));
        if (!x) {
            job_fail(job, 503, "out of memory for a clip of %" PRId64 " samples", clip.n_samples);
            return -1;
        }
        if (clip.n_samples > 0) memcpy(x, clip.samples, (size_t)clip.n_samples * sizeof(float));
        w->clip_data[at] = x;
        w->lengths[at] = clip.n_samples;
        return 0;
    }

    if (job->input == SERVE_INPUT_BYTES) {
        float *x = NULL;
        int64_t n = 0;
        if (convert_pcm(job, &x, &n) != 0) return -1;
        int64_t bad = first_non_finite(x, n * job->media.channels);
        if (bad >= 0) {
            job_fail(job, 422, "raw PCM sample %" PRId64 " of channel %d is %s: refused", bad / job->media.channels,
                     (int)(bad % job->media.channels), isnan(x[bad]) ? "NaN" : "infinite");
            free(x);
            return -1;
        }
        if (job->media.channels > 1) downmix(x, n, job->media.channels);
        /* Refuse before resampling what is already too long. */
        double ratio = (double)rate / job->media.rate;
        if (check_length(job, (int64_t)ceil((double)n * ratio), max_samples, "the clip") != 0 ||
            resample_clip(job, &x, &n, job->media.rate, rate, "the clip") != 0) {
            free(x);
            return -1;
        }
        w->clip_data[at] = x;
        w->lengths[at] = n;
        return 0;
    }

    /* Float clips (KServe tensors). */
    int in_rate = job->in_rate > 0 ? job->in_rate : rate;
    for (int c = 0; c < job->n_clips; c++) {
        char what[48];
        snprintf(what, sizeof what, "waveform[%d]", c);
        int64_t n = job->lengths[c];
        const float *src = job->samples + (size_t)c * (size_t)job->stride;
        int64_t bad = first_non_finite(src, n);
        if (bad >= 0) {
            job_fail(job, 422, "%s: sample %" PRId64 " is %s: refused", what, bad, isnan(src[bad]) ? "NaN" : "infinite");
            return -1;
        }
        if (check_length(job, (int64_t)ceil((double)n * rate / in_rate), max_samples, what) != 0) return -1;
        float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
        if (!x) {
            job_fail(job, 503, "out of memory for %s", what);
            return -1;
        }
        if (n > 0) memcpy(x, src, (size_t)n * sizeof(float));
        if (resample_clip(job, &x, &n, in_rate, rate, what) != 0) {
            free(x);
            return -1;
        }
        w->clip_data[at + c] = x;
        w->lengths[at + c] = n;
    }
    return 0;
}

static void free_clips(worker *w, int from, int to)
{
    for (int i = from; i < to; i++) {
        free(w->clip_data[i]);
        w->clip_data[i] = NULL;
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Plans                                                                                          */
/* ---------------------------------------------------------------------------------------------- */

/* A plan for `job`'s parameters that takes clips of `longest` samples, from the cache or new. */
static afx_plan *plan_for(worker *w, const serve_job *job, int64_t longest, char *err, size_t err_size)
{
    serve_batcher *b = w->b;
    cached_plan *hit = NULL, *victim = &w->plans[0];
    for (int i = 0; i < PLANS_PER_WORKER; i++) {
        cached_plan *c = &w->plans[i];
        if (c->key && strcmp(c->key, job->key) == 0) hit = c;
        if (!c->key || (victim->key && c->last_used < victim->last_used)) victim = c;
    }
    w->tick++;
    if (hit && hit->max_samples >= longest) {
        hit->last_used = w->tick;
        return hit->plan;
    }
    cached_plan *slot = hit ? hit : victim;
    afx_params p = job->params;
    int64_t initial = (int64_t)ceil(b->cfg.initial_plan_seconds * p.sample_rate);
    int64_t want = hit ? 2 * hit->max_samples : initial;
    if (want < longest) want = longest;
    if (want > p.max_samples) want = p.max_samples; /* the server's limit, which every clip already passed */
    if (want < 1) want = 1;
    if (p.fixed_length > want) want = p.fixed_length;
    p.max_samples = want;
    p.max_batch = b->cfg.max_batch;
    p.cpu_threads = b->cfg.cpu_threads;
    p.backend = b->cfg.backend;
    p.cuda_device = b->cfg.n_devices > 0 ? w->index % b->cfg.n_devices : 0;
    afx_plan *plan = NULL;
    if (afx_plan_create(&p, &plan, err, err_size) != AFX_OK) return NULL;
    char *key = malloc(strlen(job->key) + 1);
    if (!key) {
        afx_plan_free(plan);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    memcpy(key, job->key, strlen(job->key) + 1);
    afx_plan_free(slot->plan);
    free(slot->key);
    slot->key = key;
    slot->plan = plan;
    slot->max_samples = want;
    slot->last_used = w->tick;
    return plan;
}

/* ---------------------------------------------------------------------------------------------- */
/* One batch                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

/* Copies clips [at, at + job->n_clips) of the batch output into the job's own output. */
static int copy_out(worker *w, afx_plan *plan, serve_job *job, int at, int64_t batch_stride)
{
    const afx_params *p = afx_plan_params(plan);
    const size_t es = p->output_dtype == AFX_DTYPE_F32 ? 4 : 2;
    const int nf = afx_plan_n_features(plan);
    const size_t batch_clip = afx_plan_output_size(plan, 1, batch_stride);
    int64_t stride = 0;
    for (int c = 0; c < job->n_clips; c++)
        if (w->n_frames[at + c] > stride) stride = w->n_frames[at + c];
    job->n_features = nf;
    job->pooled = p->pooling != AFX_POOL_NONE ? (int)batch_clip : 0;
    job->frames_stride = job->pooled ? 1 : stride;
    const size_t job_clip = job->pooled ? batch_clip : (size_t)nf * (size_t)stride;
    job->out = calloc((size_t)job->n_clips * job_clip + 1, es);
    job->n_frames = malloc((size_t)job->n_clips * sizeof(int64_t));
    job->n_samples = malloc((size_t)job->n_clips * sizeof(int64_t));
    if (!job->out || !job->n_frames || !job->n_samples) {
        job_fail(job, 503, "out of memory for the features");
        return -1;
    }
    job->audio_seconds = 0;
    for (int c = 0; c < job->n_clips; c++) {
        const unsigned char *src = (const unsigned char *)w->out + (size_t)(at + c) * batch_clip * es;
        unsigned char *dst = (unsigned char *)job->out + (size_t)c * job_clip * es;
        const int64_t frames = w->n_frames[at + c];
        job->n_frames[c] = frames;
        job->n_samples[c] = w->lengths[at + c];
        job->audio_seconds += (double)w->lengths[at + c] / p->sample_rate;
        if (job->pooled || p->layout == AFX_LAYOUT_TF) /* pooled vector, or the first `frames` rows of [stride][nf] */
            memcpy(dst, src, (job->pooled ? batch_clip : (size_t)frames * (size_t)nf) * es);
        else /* FT: [nf][batch_stride] -> [nf][stride] */
            for (int f = 0; f < nf; f++)
                memcpy(dst + (size_t)f * (size_t)stride * es, src + (size_t)f * (size_t)batch_stride * es, (size_t)frames * es);
    }
    return 0;
}

/* Computes a batch (a list of jobs of one key) and finishes every job. */
static void run_batch(worker *w, serve_job *jobs)
{
    serve_batcher *b = w->b;
    /* 1. inputs */
    int n = 0;
    int64_t longest = 0;
    serve_job *ok = NULL, **ok_tail = &ok;
    for (serve_job *j = jobs, *next; j; j = next) {
        next = j->next;
        j->next = NULL;
        if (prepare_job(w, j, n) != 0) {
            free_clips(w, n, n + j->n_clips);
            job_finish(j);
            continue;
        }
        for (int c = 0; c < j->n_clips; c++)
            if (w->lengths[n + c] > longest) longest = w->lengths[n + c];
        n += j->n_clips;
        *ok_tail = j;
        ok_tail = &j->next;
    }
    if (!ok) return;

    /* 2. plan and output buffer */
    char err[AFX_ERROR_MAX];
    afx_plan *plan = plan_for(w, ok, longest, err, sizeof err);
    int status = 0;
    char msg[SERVE_ERR_MAX] = "";
    int64_t max_frames = 0;
    afx_input in = {.format = AFX_SAMPLE_F32, .n_channels = 1, .clips = w->ptrs, .lengths = w->lengths,
                    .n_clips = n, .first_clip_index = ok->first_clip_index};
    for (int i = 0; i < n; i++) w->ptrs[i] = w->clip_data[i];
    if (!plan) {
        status = 503;
        snprintf(msg, sizeof msg, "cannot create a plan: %s", err);
    } else if (afx_plan_output_shape(plan, &in, NULL, &max_frames) != AFX_OK) {
        status = 500;
        snprintf(msg, sizeof msg, "%s", afx_plan_error(plan));
    } else {
        size_t es = afx_plan_params(plan)->output_dtype == AFX_DTYPE_F32 ? 4 : 2;
        size_t bytes = (afx_plan_output_size(plan, n, max_frames) + 1) * es;
        if (bytes > w->out_bytes) {
            void *o = realloc(w->out, bytes);
            if (!o) {
                status = 503;
                snprintf(msg, sizeof msg, "out of memory for a batch output of %zu bytes", bytes);
            } else {
                w->out = o;
                w->out_bytes = bytes;
            }
        }
    }

    /* 3. execute */
    afx_status s = AFX_OK;
    if (status == 0) {
        afx_output out = {.data = w->out, .frames_stride = max_frames, .n_frames = w->n_frames};
        s = afx_plan_execute(plan, &in, &out);
        if (s != AFX_OK && s != AFX_ERR_INVALID_INPUT) {
            status = 500;
            snprintf(msg, sizeof msg, "afx_plan_execute: %s", afx_plan_error(plan));
        }
    }
    double audio = 0;
    for (int i = 0; i < n; i++) audio += (double)w->lengths[i] / ok->params.sample_rate;
    if (status == 0) serve_metrics_batch(b->metrics, n, audio);

    /* 4. per job results */
    int at = 0;
    for (serve_job *j = ok, *next; j; j = next) {
        next = j->next;
        j->next = NULL;
        if (status) {
            job_fail(j, status, "%s", msg);
        } else {
            int refused = -1;
            for (int c = 0; c < j->n_clips && refused < 0; c++)
                if (w->n_frames[at + c] < 0) refused = c;
            if (refused >= 0)
                job_fail(j, 422, "clip %d of the request was refused: its features are not finite (%s)", refused,
                         afx_plan_error(plan));
            else copy_out(w, plan, j, at, max_frames);
        }
        at += j->n_clips;
        job_finish(j);
    }
    free_clips(w, 0, n);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    serve_batcher *b = w->b;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        serve_job *jobs = take_batch(b, w);
        if (!jobs) break;
        pthread_mutex_unlock(&b->mu);
        run_batch(w, jobs);
        pthread_mutex_lock(&b->mu);
        w->busy_clips = 0;
        pthread_cond_broadcast(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* Life cycle                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

static void free_worker(worker *w)
{
    for (int i = 0; i < PLANS_PER_WORKER; i++) {
        afx_plan_free(w->plans[i].plan);
        free(w->plans[i].key);
    }
    afx_audio_decoder_free(w->decoder);
    free(w->clip_data);
    free(w->ptrs);
    free(w->lengths);
    free(w->n_frames);
    free(w->out);
}

int serve_batcher_start(serve_batcher **out, const serve_batcher_config *cfg, serve_metrics *metrics, char *err,
                        size_t err_size)
{
    *out = NULL;
    serve_batcher *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    b->cfg = *cfg;
    b->metrics = metrics;
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    b->workers = calloc((size_t)cfg->n_workers, sizeof *b->workers);
    int failed = b->workers == NULL;
    size_t mb = (size_t)cfg->max_batch;
    for (int i = 0; !failed && i < cfg->n_workers; i++) {
        worker *w = &b->workers[i];
        w->b = b;
        w->index = i;
        w->clip_data = calloc(mb, sizeof *w->clip_data);
        w->ptrs = calloc(mb, sizeof *w->ptrs);
        w->lengths = calloc(mb, sizeof *w->lengths);
        w->n_frames = calloc(mb, sizeof *w->n_frames);
        char aerr[AFX_ERROR_MAX];
        if (!w->clip_data || !w->ptrs || !w->lengths || !w->n_frames ||
            afx_audio_decoder_create(&w->decoder, aerr, sizeof aerr) != AFX_OK)
            failed = 1;
    }
    if (failed) snprintf(err, err_size, "out of memory for %d workers", cfg->n_workers);
    for (int i = 0; !failed && i < cfg->n_workers; i++) {
        int rc = pthread_create(&b->workers[i].thread, NULL, worker_main, &b->workers[i]);
        if (rc != 0) {
            snprintf(err, err_size, "cannot start worker thread %d: %s", i, strerror(rc));
            failed = 1;
        } else {
            b->workers[i].started = 1;
        }
    }
    if (failed) {
        serve_batcher_stop(b, 0);
        serve_batcher_free(b);
        return -1;
    }
    *out = b;
    return 0;
}

void serve_batcher_stop(serve_batcher *b, int drain)
{
    if (!b) return;
    serve_job *dropped = NULL;
    pthread_mutex_lock(&b->mu);
    b->stopping = 1;
    if (!drain) {
        dropped = b->head;
        b->head = b->tail = NULL;
        b->queued_clips = 0;
    }
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    while (dropped) {
        serve_job *next = dropped->next;
        job_fail(dropped, 503, "the server is shutting down; retry on another instance");
        job_finish(dropped);
        dropped = next;
    }
    for (int i = 0; b->workers && i < b->cfg.n_workers; i++)
        if (b->workers[i].started) {
            pthread_join(b->workers[i].thread, NULL);
            b->workers[i].started = 0;
        }
}

void serve_batcher_free(serve_batcher *b)
{
    if (!b) return;
    for (int i = 0; b->workers && i < b->cfg.n_workers; i++) free_worker(&b->workers[i]);
    free(b->workers);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
}
