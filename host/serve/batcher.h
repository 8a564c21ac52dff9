/*
 * batcher.h: the dynamic batcher of `afx serve`: a queue of jobs (one per request) and worker threads,
 * each with its own afx plans and audio decoder, that run the queued clips in batches.
 *
 * Batching rule (a request's result never depends on what it was batched with):
 *  - Only jobs with identical effective parameters (serve_params_key) share a batch.
 *  - A job whose parameters use randomness keyed by the clip index (dither, SpecAugment masks) always
 *    runs as its own batch, its clips numbered from the request's first_clip_index (default 0): its
 *    noise and masks are those `afx extract` gives the same clips at the same indices.
 *  - Other jobs are batched together: their features do not depend on the clip index, and afx computes
 *    every clip of a batch independently.
 * A worker that takes a job waits up to max_queue_delay_us after that job arrived for more jobs of the same
 * key, until the batch holds max_batch clips (Triton's dynamic_batching); meanwhile the other workers
 * leave such jobs to it and take the others.
 *
 * Threading: serve_batcher_submit and serve_batcher_expire may be called from any thread. A job's
 * `finish` callback runs on a worker thread (or the caller of expire/stop) exactly once; after it the
 * batcher never touches the job again.
 */
#ifndef AFX_SERVE_BATCHER_H
#define AFX_SERVE_BATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "afx.h"
#include "metrics.h"
#include "request.h"

/** Where a job's samples come from. */
typedef enum serve_input_kind {
    SERVE_INPUT_BYTES = 0,  /**< one clip: an encoded file (media.pcm NONE) or raw PCM, in bytes[0 .. n_bytes) */
    SERVE_INPUT_FLOAT = 1   /**< n_clips float32 mono clips at in_rate: samples[c * stride .. + lengths[c]) */
} serve_input_kind;

typedef struct serve_job serve_job;

struct serve_job {
    /* --- set by the submitter (read-only for the batcher) --- */
    afx_params params;          /**< validated effective parameters (serve_request_params / a model) */
    char *key;                  /**< serve_params_key(&params), owned by the job's owner */
    uint64_t first_clip_index;  /**< global index of the first clip (keys dither and masks) */
    int n_clips;                /**< 1 .. max_batch */
    serve_input_kind input;
    const unsigned char *bytes; /**< SERVE_INPUT_BYTES */
    size_t n_bytes;
    serve_media media;
    const float *samples;       /**< SERVE_INPUT_FLOAT */
    const int64_t *lengths;
    int64_t stride;
    int in_rate;                /**< SERVE_INPUT_FLOAT: Hz of the samples (0: params.sample_rate) */
    void (*finish)(serve_job *job); /**< called once the job is done or failed */
    void *owner;                /**< for `finish` */

    /* --- results, valid in `finish` --- */
    int http_status;            /**< 0 on success, else the 4xx/5xx status */
    char error[SERVE_ERR_MAX];  /**< message when http_status != 0 */
    int n_features;             /**< values per frame (afx_plan_n_features) */
    int pooled;                 /**< values per clip when pooled, else 0 */
    int64_t frames_stride;      /**< frames dimension of `out` (largest n_frames of the job; 1 when pooled) */
    void *out;                  /**< n_clips x (pooled or n_features x frames_stride) elements of params.output_dtype,
                                     laid out as afx_output (per clip FT or TF), zero past each clip's frames; malloc'd,
                                     the owner frees it */
    int64_t *n_frames;          /**< [n_clips], malloc'd, the owner frees it */
    int64_t *n_samples;         /**< [n_clips] samples after decoding/resampling, malloc'd, the owner frees it */
    double audio_seconds;       /**< sum of n_samples / sample_rate */

    /* --- the batcher's --- */
    double t_enqueue, deadline;
    serve_job *next;
};

typedef struct serve_batcher_config {
    int n_workers;              /**< worker threads, each with its own plans */
    afx_backend backend;        /**< CPU, or CUDA (worker i uses device devices[i % n_devices]) */
    int n_devices;
    int cpu_threads;            /**< afx_params.cpu_threads of each worker's plans */
    int max_batch;              /**< clips per batch */
    long max_queue_delay_us;    /**< wait for more jobs of the same key */
    int max_queue_clips;        /**< queued clips beyond which submit answers 429 */
    double request_timeout_s;   /**< a job still queued this long after submission fails with 503 */
    double max_clip_seconds;    /**< longest clip (after decoding), at the features' rate */
    double initial_plan_seconds;/**< clip length a new plan is sized for; plans grow when a longer clip comes */
} serve_batcher_config;

typedef struct serve_batcher serve_batcher;

/** Starts the workers. 0, or an error message (and nonzero). */
int serve_batcher_start(serve_batcher **b, const serve_batcher_config *cfg, serve_metrics *metrics, char *err,
                        size_t err_size);
/**
 * Queues a job. Returns 0 (finish will be called later), 429 when the queue is full (a job is always
 * taken by an empty queue, whatever its size), 503 when the
 * batcher is stopping; on nonzero the job was not queued and finish will not be called.
 */
int serve_batcher_submit(serve_batcher *b, serve_job *job);
/** Fails (503, finish called) every queued job whose deadline has passed. */
void serve_batcher_expire(serve_batcher *b, double now);
/** Clips queued now. */
int serve_batcher_queued(serve_batcher *b);
/** Clips being computed now or queued. */
int serve_batcher_busy(serve_batcher *b);
/**
 * Stops: no new jobs (submit answers 503 from now on); with drain = 1 the workers finish every queued
 * job first, else queued jobs fail with 503. Returns once every worker has exited, so every job ever
 * submitted has been finished. Call once.
 */
void serve_batcher_stop(serve_batcher *b, int drain);
/** Frees a stopped batcher. NULL is a no-op. */
void serve_batcher_free(serve_batcher *b);

/** Monotonic time in seconds. */
double serve_now(void);

#endif /* AFX_SERVE_BATCHER_H */
