/*
 * plan.c: plan creation (tables built once), batch checks, and dispatch to the backend.
 *
 * Everything that depends only on the parameters is computed here, in double precision, and stored
 * as float32 tables that every backend uses: the window, the dense mel weight matrix (with each
 * filter's non-zero bin range for the CPU's sparse loop) and the DCT matrix with the lifter folded in.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dct/dct.h"
#include "frame/frame.h"
#include "internal.h"
#include "log/log.h"
#include "mel/mel.h"
#include "window/window.h"

static void *plan_alloc(afx_plan *plan, size_t count, size_t elem, const char *what, afx_status *st) {
    size_t bytes = afx_mul_size(count, elem);
    void *ptr = bytes ? calloc(1, bytes) : NULL;
    if (!ptr) *st = AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY, "cannot allocate %zu elements for the %s", count, what);
    return ptr;
}

static afx_status build_window(afx_plan *plan) {
    afx_status st = AFX_OK;
    plan->window = plan_alloc(plan, (size_t)plan->win, sizeof(float), "window", &st);
    if (!plan->window) return st;
    for (int i = 0; i < plan->win; i++)
        plan->window[i] = (float)afx_window_value((int)plan->p.window, i, plan->win, plan->p.window_periodic);
    return AFX_OK;
}

/* Dense [n_mels][n_freq] weights (the CUDA backend multiplies by this matrix with cuBLAS) filled in
 * O(non-zeros): each filter is evaluated over its support only (afx_mel_support), and mel_lo/mel_hi keep
 * the range of its non-zero weights for the CPU backend's sparse product. Validation has bounded the
 * table by AFX_MEL_WEIGHTS_MAX. */
static afx_status build_mel(afx_plan *plan) {
    const afx_params *p = &plan->p;
    int n_mels = p->n_mels, n_freq = plan->n_freq, scale = (int)p->mel_scale;
    afx_status st = AFX_OK;
    plan->mel_weights = plan_alloc(plan, afx_mul_size((size_t)n_mels, (size_t)n_freq), sizeof(float), "mel weights", &st);  /* zeroed */
    plan->mel_lo = plan_alloc(plan, (size_t)n_mels, sizeof(int), "mel ranges", &st);
    plan->mel_hi = plan_alloc(plan, (size_t)n_mels, sizeof(int), "mel ranges", &st);
    if (st != AFX_OK) return st;
    double mel_lo = afx_hz_to_mel((double)p->f_min, scale), mel_hi = afx_hz_to_mel((double)p->f_max, scale);
    for (int i = 0; i < n_mels; i++) {
        double norm = p->mel_norm == AFX_MEL_NORM_SLANEY ? afx_mel_slaney_norm(i, n_mels, mel_lo, mel_hi, scale) : 1.0;
        int s_lo, s_hi, lo = n_freq, hi = 0;
        afx_mel_support(i, n_mels, mel_lo, mel_hi, scale, p->sample_rate, plan->n_fft, p->mel_linspace_freqs, &s_lo,
                        &s_hi);
        for (int k = s_lo; k < s_hi; k++) {
            double f = afx_mel_bin_freq(k, p->sample_rate, plan->n_fft, p->mel_linspace_freqs);
            double w = afx_mel_weight(i, f, n_mels, mel_lo, mel_hi, scale) * norm;
            plan->mel_weights[(size_t)i * n_freq + k] = (float)w;
            if (w > 0.0) {
                if (k < lo) lo = k;
                hi = k + 1;
            }
        }
        plan->mel_lo[i] = lo < hi ? lo : 0;
        plan->mel_hi[i] = hi;
    }
    return AFX_OK;
}

static afx_status build_dct(afx_plan *plan) {
    const afx_params *p = &plan->p;
    afx_status st = AFX_OK;
    plan->dct = plan_alloc(plan, afx_mul_size((size_t)p->n_mfcc, (size_t)p->n_mels), sizeof(float), "DCT matrix", &st);
    if (!plan->dct) return st;
    for (int k = 0; k < p->n_mfcc; k++) {
        double lifter = afx_kaldi_lifter(k, (double)p->cepstral_lifter);
        for (int n = 0; n < p->n_mels; n++)
            plan->dct[(size_t)k * p->n_mels + n] =
                (float)(afx_dct2(k, n, p->n_mels, p->dct_norm == AFX_DCT_TF) * lifter);
    }
    return AFX_OK;
}

/* Resolves defaults and derived sizes from validated parameters. */
static void derive_sizes(afx_plan *plan) {
    afx_params *p = &plan->p;
    plan->n_fft = afx_params_effective_n_fft(p);
    plan->win = afx_params_effective_win(p);
    plan->hop = p->hop_length;
    p->n_fft = plan->n_fft;
    p->win_length = plan->win;
    p->f_max = (float)afx_params_effective_f_max(p);
    plan->n_freq = plan->n_fft / 2 + 1;
    plan->framing = p->center ? AFX_FRAMING_CENTER : (p->snip_edges ? AFX_FRAMING_SNIP : AFX_FRAMING_NOSNIP);
    plan->pad = plan->framing == AFX_FRAMING_NOSNIP ? AFX_PAD_IDX_KALDI
                : p->pad_mode == AFX_PAD_CONSTANT   ? AFX_PAD_IDX_CONSTANT
                                                    : AFX_PAD_IDX_REFLECT;
    plan->fft_offset = afx_frame_fft_offset(plan->framing, plan->n_fft, plan->win);
    plan->n_base = p->feature == AFX_FEATURE_SPECTROGRAM ? plan->n_freq : p->n_mels;
    plan->n_features = afx_params_n_features(p, plan->n_freq);
    plan->pooled_size = p->pooling == AFX_POOL_MEAN ? plan->n_features
                        : p->pooling == AFX_POOL_MEAN_STD ? 2 * plan->n_features : 0;
    plan->max_frames = afx_plan_frames_for_length(plan, p->max_samples);
    plan->db_ref_term = afx_db_ref_term(p->db_multiplier, p->db_amin, p->db_ref);
    plan->log_kind = p->feature == AFX_FEATURE_LOGMEL ? (int)p->log_base
                     : p->feature == AFX_FEATURE_DB   ? AFX_LB_DB
                     : p->feature == AFX_FEATURE_MFCC ? (int)p->mfcc_log
                                                      : -1;
    if (plan->log_kind == AFX_LB_DB)
        plan->floor_range = p->top_db >= 0.0f ? p->top_db : -1.0f;
    else if (plan->log_kind >= 0)  /* ln/log10: Whisper's max - 8 */
        plan->floor_range = p->log_range >= 0.0f ? p->log_range : -1.0f;
    else
        plan->floor_range = -1.0f;
}

int afx_cuda_device_count(void) {
#ifdef AFX_HAVE_CUDA
    return afx_cuda_probe_devices();
#else
    return 0;
#endif
}

/* CPU, or CUDA (validation already refused CUDA in builds without it); AUTO picks CUDA when the CUDA module
 * loads and the device is present. Only these two choices load the module (and with it the CUDA libraries). */
static afx_status select_backend(afx_plan *plan) {
    plan->backend = AFX_BACKEND_CPU;
    plan->ops = &afx_cpu_backend;
#ifdef AFX_HAVE_CUDA
    if (plan->p.backend == AFX_BACKEND_CUDA) {
        const afx_backend_ops *cuda = NULL;
        afx_status st = afx_cuda_load(&cuda, plan->err, sizeof plan->err);
        if (st != AFX_OK) return st;
        plan->backend = AFX_BACKEND_CUDA;
        plan->ops = cuda;
    } else if (plan->p.backend == AFX_BACKEND_AUTO && afx_cuda_probe_devices() > plan->p.cuda_device) {
        const afx_backend_ops *cuda = NULL;
        if (afx_cuda_load(&cuda, NULL, 0) == AFX_OK) {
            plan->backend = AFX_BACKEND_CUDA;
            plan->ops = cuda;
        }
    }
#endif
    return AFX_OK;
}

afx_status afx_plan_create(const afx_params *params, afx_plan **out, char *err, size_t err_size) {
    if (!out) return afx_fail(err, err_size, AFX_ERR_NULL_ARGUMENT, "afx_plan_create: plan output pointer is NULL");
    *out = NULL;
    afx_status st = afx_params_validate(params, err, err_size);
    if (st != AFX_OK) return st;
    afx_plan *plan = calloc(1, sizeof *plan);
    if (!plan) return afx_fail(err, err_size, AFX_ERR_OUT_OF_MEMORY, "cannot allocate a plan");
    plan->p = *params;
    derive_sizes(plan);
    st = build_window(plan);
    if (st == AFX_OK && plan->p.feature != AFX_FEATURE_SPECTROGRAM) st = build_mel(plan);
    if (st == AFX_OK && plan->p.feature == AFX_FEATURE_MFCC) st = build_dct(plan);
    if (st == AFX_OK) st = select_backend(plan);
    if (st == AFX_OK) st = plan->ops->init(plan);
    if (st != AFX_OK) {
        afx_fail(err, err_size, st, "%s", plan->err);
        afx_plan_free(plan);
        return st;
    }
    plan->err[0] = '\0';
    *out = plan;
    return AFX_OK;
}

void afx_plan_free(afx_plan *plan) {
    if (!plan) return;
    if (plan->ops) plan->ops->destroy(plan);
    free(plan->window);
    free(plan->mel_weights);
    free(plan->mel_lo);
    free(plan->mel_hi);
    free(plan->dct);
    free(plan);
}

const char *afx_plan_error(const afx_plan *plan) { return plan ? plan->err : "plan is NULL"; }
afx_backend afx_plan_backend(const afx_plan *plan) { return plan ? plan->backend : AFX_BACKEND_CPU; }
const afx_params *afx_plan_params(const afx_plan *plan) { return plan ? &plan->p : NULL; }
int afx_plan_n_features(const afx_plan *plan) { return plan ? plan->n_features : 0; }

int64_t afx_plan_frames_for_length(const afx_plan *plan, int64_t n_samples) {
    if (!plan) return 0;
    if (plan->p.fixed_length > 0 && n_samples >= 0) n_samples = plan->p.fixed_length;
    int64_t t = afx_frame_count(plan->framing, n_samples, plan->n_fft, plan->win, plan->hop);
    if (plan->p.drop_last_frame && t > 0) t--;  /* Whisper: stft[..., :-1] */
    return t;
}

size_t afx_plan_output_size(const afx_plan *plan, int n_clips, int64_t frames_stride) {
    if (!plan || n_clips <= 0) return 0;
    if (plan->pooled_size) return afx_mul_size((size_t)n_clips, (size_t)plan->pooled_size);
    if (frames_stride <= 0) return 0;
    return afx_mul_size(afx_mul_size((size_t)n_clips, (size_t)plan->n_features), (size_t)frames_stride);
}

/* Checks a batch's shape against the plan and fills frame counts; with check_samples, also that every
 * non-empty clip has a samples pointer. Reads no samples. */
static afx_status check_batch(afx_plan *plan, const afx_input *in, int check_samples, int64_t *n_frames,
                              int64_t *max_frames) {
    if (!plan) return AFX_ERR_NULL_ARGUMENT;
    plan->err[0] = '\0';
    if (!in) return AFX_PLAN_FAIL(plan, AFX_ERR_NULL_ARGUMENT, "input batch is NULL");
    if (in->n_clips < 1)
        return AFX_PLAN_FAIL(plan, AFX_ERR_INVALID_INPUT, "n_clips=%d: a batch needs at least one clip", in->n_clips);
    if (in->n_clips > plan->p.max_batch)
        return AFX_PLAN_FAIL(plan, AFX_ERR_EXCEEDS_PLAN, "n_clips=%d exceeds the plan's max_batch=%d", in->n_clips,
                             plan->p.max_batch);
    if (!in->lengths) return AFX_PLAN_FAIL(plan, AFX_ERR_NULL_ARGUMENT, "input lengths array is NULL");
    if (check_samples && !in->clips) return AFX_PLAN_FAIL(plan, AFX_ERR_NULL_ARGUMENT, "input clips array is NULL");
    if (in->format != AFX_SAMPLE_F32 && in->format != AFX_SAMPLE_S16)
        return AFX_PLAN_FAIL(plan, AFX_ERR_INVALID_INPUT, "sample format %d is not f32 (0) or s16 (1)", (int)in->format);
    if (in->n_channels < 1 || in->n_channels > 64)
        return AFX_PLAN_FAIL(plan, AFX_ERR_INVALID_INPUT, "n_channels=%d must be in 1..64", in->n_channels);
    int64_t most = 0;
    for (int b = 0; b < in->n_clips; b++) {
        int64_t n = in->lengths[b];
        if (n < 0)
            return AFX_PLAN_FAIL(plan, AFX_ERR_INVALID_INPUT, "clip %d (global index %llu): negative length %lld", b,
                                 (unsigned long long)(in->first_clip_index + (uint64_t)b), (long long)n);
        if (n > plan->p.max_samples && plan->p.fixed_length == 0)  /* fixed_length: cut to it */
            return AFX_PLAN_FAIL(plan, AFX_ERR_EXCEEDS_PLAN,
                                 "clip %d (global index %llu): %lld samples exceed the plan's max_samples=%lld", b,
                                 (unsigned long long)(in->first_clip_index + (uint64_t)b), (long long)n,
                                 (long long)plan->p.max_samples);
        if (check_samples && n > 0 && !in->clips[b])
            return AFX_PLAN_FAIL(plan, AFX_ERR_NULL_ARGUMENT, "clip %d: samples pointer is NULL for length %lld", b,
                                 (long long)n);
        int64_t t = afx_plan_frames_for_length(plan, n);
        if (n_frames) n_frames[b] = t;
        if (t > most) most = t;
    }
    if (max_frames) *max_frames = most;
    return AFX_OK;
}

afx_status afx_plan_output_shape(afx_plan *plan, const afx_input *in, int64_t *n_frames, int64_t *max_frames) {
    return check_batch(plan, in, 0, n_frames, max_frames);
}

/* check_batch plus the output's checks (n_frames, data, frames_stride); `what` prefixes messages ("" or
 * "batch 3: "). */
static afx_status check_io(afx_plan *plan, const afx_input *in, afx_output *out, const char *what) {
    if (!out || !out->n_frames)
        return AFX_PLAN_FAIL(plan, AFX_ERR_NULL_ARGUMENT, "%soutput or output n_frames is NULL", what);
    int64_t most = 0;
    AFX_FORWARD(check_batch(plan, in, 1, out->n_frames, &most));
    if (!out->data && afx_plan_output_size(plan, in->n_clips, plan->pooled_size ? 1 : most) > 0)
        return AFX_PLAN_FAIL(plan, AFX_ERR_NULL_ARGUMENT, "%soutput data is NULL", what);
    if (!plan->pooled_size && out->frames_stride < most)
        return AFX_PLAN_FAIL(plan, AFX_ERR_EXCEEDS_PLAN,
                             "%sframes_stride=%lld is smaller than the batch's largest frame count %lld", what,
                             (long long)out->frames_stride, (long long)most);
    return AFX_OK;
}

afx_status afx_plan_execute(afx_plan *plan, const afx_input *in, afx_output *out) {
    if (!plan) return AFX_ERR_NULL_ARGUMENT;
    AFX_FORWARD(check_io(plan, in, out, ""));
    return plan->ops->execute(plan, in, out);
}

afx_status afx_plan_execute_batches(afx_plan *plan, const afx_input *inputs, afx_output *outputs, int n_batches,
                                    int *n_done) {
    if (n_done) *n_done = 0;
    if (!plan) return AFX_ERR_NULL_ARGUMENT;
    plan->err[0] = '\0';
    if (n_batches < 0) return AFX_PLAN_FAIL(plan, AFX_ERR_INVALID_INPUT, "n_batches=%d is negative", n_batches);
    if (n_batches > 0 && (!inputs || !outputs))
        return AFX_PLAN_FAIL(plan, AFX_ERR_NULL_ARGUMENT, "inputs or outputs array is NULL");
    /* Check every batch's shape first, so a pipelined backend only ever sees valid batches. */
    for (int i = 0; i < n_batches; i++) {
        char what[32];
        snprintf(what, sizeof what, "batch %d: ", i);
        AFX_FORWARD(check_io(plan, &inputs[i], &outputs[i], what));
    }
    if (plan->ops->execute_batches) return plan->ops->execute_batches(plan, inputs, outputs, n_batches, n_done);
    /* No pipelining: one batch after another. Shapes are valid, so AFX_ERR_INVALID_INPUT now only means a
     * refused NaN/Inf clip inside a completed batch. */
    afx_status result = AFX_OK;
    int first_bad = -1;
    char first_err[AFX_ERROR_MAX] = "";
    for (int i = 0; i < n_batches; i++) {
        afx_status st = plan->ops->execute(plan, &inputs[i], &outputs[i]);
        if (st != AFX_OK && st != AFX_ERR_INVALID_INPUT) return st;
        if (st != AFX_OK && result == AFX_OK) {
            result = st;
            first_bad = i;
            memcpy(first_err, plan->err, sizeof first_err);
        }
        if (n_done) *n_done = i + 1;
    }
    if (result != AFX_OK) afx_fail(plan->err, sizeof plan->err, result, "batch %d: %s", first_bad, first_err);
    return result;
}

static afx_status cuda_only(afx_plan *plan, const char *what) {
    return AFX_PLAN_FAIL(plan, AFX_ERR_BACKEND_UNAVAILABLE, "%s needs a plan on the CUDA backend; this plan runs on %s",
                         what, plan->ops->name);
}

afx_status afx_plan_execute_device(afx_plan *plan, const afx_input *in, afx_device_output *out) {
    if (!plan) return AFX_ERR_NULL_ARGUMENT;
    if (!out || !out->n_frames)
        return AFX_PLAN_FAIL(plan, AFX_ERR_NULL_ARGUMENT, "device output or its n_frames is NULL");
    if (!plan->ops->execute_device) return cuda_only(plan, "afx_plan_execute_device");
    int64_t most = 0;
    AFX_FORWARD(check_batch(plan, in, 1, out->n_frames, &most));
    return plan->ops->execute_device(plan, in, out, most);
}

afx_status afx_plan_execute_device_input(afx_plan *plan, const afx_input *in, afx_device_output *out) {
    if (!plan) return AFX_ERR_NULL_ARGUMENT;
    if (!out || !out->n_frames)
        return AFX_PLAN_FAIL(plan, AFX_ERR_NULL_ARGUMENT, "device output or its n_frames is NULL");
    if (!plan->ops->execute_device_input) return cuda_only(plan, "afx_plan_execute_device_input");
    int64_t most = 0;
    AFX_FORWARD(check_batch(plan, in, 1, out->n_frames, &most));
    return plan->ops->execute_device_input(plan, in, out, most);
}

afx_status afx_plan_set_stream(afx_plan *plan, void *cuda_stream) {
    if (!plan) return AFX_ERR_NULL_ARGUMENT;
    plan->err[0] = '\0';
    if (!plan->ops->set_stream) return cuda_only(plan, "afx_plan_set_stream");
    return plan->ops->set_stream(plan, cuda_stream);
}

afx_status afx_plan_workspace_size(const afx_plan *plan, size_t *device_bytes, size_t *pinned_host_bytes) {
    if (!plan) return AFX_ERR_NULL_ARGUMENT;
    if (device_bytes) *device_bytes = 0;
    if (pinned_host_bytes) *pinned_host_bytes = 0;
    if (!plan->ops->workspace_size) return AFX_ERR_BACKEND_UNAVAILABLE;
    return plan->ops->workspace_size(plan, device_bytes, pinned_host_bytes);
}
