/*
 * cpu_backend.c: the reference backend. One clip at a time, one frame at a time, with KissFFT
 * (Debian libkissfft-dev; kiss_fftr for even n_fft, the complex transform for odd n_fft).
 *
 * Per clip:  frames -> base matrix (spectrogram, mel, log-mel or dB; [frames][n_base] in scratch)
 *            -> per-clip top_db -> DCT (MFCC) -> normalization -> masks -> pooling / output layout.
 * Everything per element comes from the shared headers in kernels/; the plan owns all memory, so a
 * call allocates nothing.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <kiss_fft.h>
#include <kiss_fftr.h>

#include "common/half.h"
#include "convert/convert.h"
#include "common/rng.h"
#include "frame/frame.h"
#include "internal.h"
#include "log/log.h"
#include "mask/mask.h"
#include "mel/mel.h"
#include "norm/norm.h"
#include "spectrum/spectrum.h"

typedef struct cpu_state {
    kiss_fftr_cfg real_cfg;  /* even n_fft */
    kiss_fft_cfg cplx_cfg;   /* odd n_fft */
    float *segment;          /* [win] analysis samples after dither and DC removal */
    float *fft_in;           /* [n_fft] windowed frame */
    kiss_fft_cpx *cplx_in;   /* [n_fft] (odd n_fft only) */
    kiss_fft_cpx *fft_out;   /* [n_fft] */
    float *spec;             /* [n_freq] |X|^power */
    float *row;              /* [n_base] one frame of the base feature */
    float *matrix;           /* [max_frames][n_base] the clip's features, frame-major */
    float *log_energy;       /* [max_frames] for mfcc_energy */
    double *stats;           /* [2 * n_features] sums for normalization and pooling */
} cpu_state;

static void cpu_destroy(afx_plan *plan) {
    cpu_state *s = plan->backend_state;
    if (!s) return;
    kiss_fftr_free(s->real_cfg);
    kiss_fft_free(s->cplx_cfg);
    free(s->segment);
    free(s->fft_in);
    free(s->cplx_in);
    free(s->fft_out);
    free(s->spec);
    free(s->row);
    free(s->matrix);
    free(s->log_energy);
    free(s->stats);
    free(s);
    plan->backend_state = NULL;
}

static afx_status cpu_init(afx_plan *plan) {
    cpu_state *s = calloc(1, sizeof *s);
    if (!s) return AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY, "cannot allocate the CPU backend state");
    plan->backend_state = s;
    size_t n_fft = (size_t)plan->n_fft, frames = (size_t)(plan->max_frames > 0 ? plan->max_frames : 1);
    size_t matrix = afx_mul_size(frames, (size_t)plan->n_base);
    if (!matrix || matrix > SIZE_MAX / sizeof(float))
        return AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY,
                             "max_samples=%lld gives %zu frames x %d values: too large for the CPU scratch",
                             (long long)plan->p.max_samples, frames, plan->n_base);
    if (plan->n_fft % 2 == 0)
        s->real_cfg = kiss_fftr_alloc(plan->n_fft, 0, NULL, NULL);
    else
        s->cplx_cfg = kiss_fft_alloc(plan->n_fft, 0, NULL, NULL);
    s->segment = calloc((size_t)plan->win, sizeof(float));
    s->fft_in = calloc(n_fft, sizeof(float));
    s->cplx_in = plan->n_fft % 2 ? calloc(n_fft, sizeof(kiss_fft_cpx)) : NULL;
    s->fft_out = calloc(n_fft, sizeof(kiss_fft_cpx));
    s->spec = calloc((size_t)plan->n_freq, sizeof(float));
    s->row = calloc((size_t)plan->n_base, sizeof(float));
    s->matrix = malloc(matrix * sizeof(float));
    s->log_energy = calloc(frames, sizeof(float));
    s->stats = calloc(2 * (size_t)plan->n_features, sizeof(double));
    if ((!s->real_cfg && !s->cplx_cfg) || !s->segment || !s->fft_in || (plan->n_fft % 2 && !s->cplx_in) ||
        !s->fft_out || !s->spec || !s->row || !s->matrix || !s->log_energy || !s->stats)
        return AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY,
                             "cannot allocate CPU scratch for max_samples=%lld (%zu frames x %d values)",
                             (long long)plan->p.max_samples, frames, plan->n_base);
    return AFX_OK;
}

/* ---- input ---- */

/* Mono sample j of a clip: channel mean, int16 scaled by 1/32768, then input_scale. */
static float clip_sample(const afx_input *in, const void *clip, int64_t j, float scale) {
    int ch = in->n_channels;
    float mono = in->format == AFX_SAMPLE_S16 ? afx_downmix_s16((const int16_t *)clip + j * ch, ch)
                                              : afx_downmix_f32((const float *)clip + j * ch, ch);
    return mono * scale;
}

/* Index of the first non-finite sample among those used (fixed_length cuts the rest), or -1. int16 is
 * always finite. */
static int64_t first_bad_sample(const afx_plan *plan, const afx_input *in, int b) {
    if (in->format != AFX_SAMPLE_F32) return -1;
    const float *x = in->clips[b];
    int64_t used = in->lengths[b];
    if (plan->p.fixed_length > 0 && used > plan->p.fixed_length) used = plan->p.fixed_length;
    int64_t count = used * in->n_channels;
    for (int64_t i = 0; i < count; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

/* ---- one frame ---- */

/* Fills s->segment with the win analysis samples of frame t (padding, dither, DC removal). */
static void load_segment(const afx_plan *plan, cpu_state *s, const afx_input *in, int b, int64_t t) {
    const afx_params *p = &plan->p;
    /* n: the clip's length as framed (fixed_length when set); samples past the real ones are zeros. */
    int64_t n = p->fixed_length > 0 ? p->fixed_length : in->lengths[b];
    int64_t n_real = in->lengths[b] < n ? in->lengths[b] : n;
    int64_t first = afx_frame_first_sample(plan->framing, t, plan->n_fft, plan->win, plan->hop);
    uint64_t clip_id = in->first_clip_index + (uint64_t)b;
    double sum = 0.0;
    for (int k = 0; k < plan->win; k++) {
        int64_t j = afx_pad_index(plan->pad, first + k, n);
        float v = (j < 0 || j >= n_real) ? 0.0f : clip_sample(in, in->clips[b], j, p->input_scale);
        if (p->dither > 0.0f)  /* Kaldi Dither(): Gaussian noise on the frame copy */
            v = afx_dither_sample(v, p->dither, p->dither_seed, clip_id, (uint64_t)t, (uint64_t)k);
        s->segment[k] = v;
        sum += v;
    }
    if (p->remove_dc_offset) {
        float mean = (float)(sum / plan->win);
        for (int k = 0; k < plan->win; k++) s->segment[k] -= mean;
    }
}

static float log_energy_of(const float *x, int n, float energy_floor) {
    double e = 0.0;
    for (int i = 0; i < n; i++) e += (double)x[i] * x[i];
    return afx_log_energy_value(e, energy_floor);  /* Kaldi: Log(max(VecVec, epsilon)) */
}

/* Pre-emphasis and window into the FFT input, then |X|^power into s->spec. Returns frame log energy. */
static float frame_spectrum(const afx_plan *plan, cpu_state *s) {
    const afx_params *p = &plan->p;
    float le = 0.0f;
    int want_energy = p->feature == AFX_FEATURE_MFCC && p->mfcc_energy;
    if (want_energy && p->raw_energy) le = log_energy_of(s->segment, plan->win, p->energy_floor);
    memset(s->fft_in, 0, sizeof(float) * (size_t)plan->n_fft);
    float *dst = s->fft_in + plan->fft_offset;
    for (int k = 0; k < plan->win; k++) {
        float v = p->preemphasis != 0.0f ? afx_preemph_at(s->segment, k, p->preemphasis) : s->segment[k];
        dst[k] = v * plan->window[k];
    }
    if (want_energy && !p->raw_energy) le = log_energy_of(dst, plan->win, p->energy_floor);

    if (s->real_cfg) {
        kiss_fftr(s->real_cfg, s->fft_in, s->fft_out);
    } else {
        for (int k = 0; k < plan->n_fft; k++) {
            s->cplx_in[k].r = s->fft_in[k];
            s->cplx_in[k].i = 0.0f;
        }
        kiss_fft(s->cplx_cfg, s->cplx_in, s->fft_out);
    }
    for (int k = 0; k < plan->n_freq; k++) {
        s->spec[k] = afx_power_value(s->fft_out[k].r, s->fft_out[k].i, p->power);
    }
    return le;
}

/* The base feature of one frame (before DCT) from s->spec into row[n_base]. */
static void base_row(const afx_plan *plan, const cpu_state *s, float *row) {
    const afx_params *p = &plan->p;
    if (p->feature == AFX_FEATURE_SPECTROGRAM) {
        memcpy(row, s->spec, sizeof(float) * (size_t)plan->n_freq);
        return;
    }
    const int log_kind = plan->log_kind;
    for (int i = 0; i < p->n_mels; i++) {
        float acc = afx_mel_band(plan->mel_weights + (size_t)i * plan->n_freq, s->spec, plan->mel_lo[i], plan->mel_hi[i]);
        if (log_kind == AFX_LB_DB)
            acc = afx_db_value(acc, p->db_multiplier, p->db_amin, plan->db_ref_term);
        else if (log_kind >= 0)
            acc = afx_log_value(acc, p->log_offset, p->log_floor, log_kind);
        row[i] = acc;
    }
}

/* ---- per-clip passes over the [frames][width] matrix ---- */

static void apply_top_db(float *m, size_t count, float top_db) {
    if (count == 0) return;
    float mx = m[0];
    for (size_t i = 1; i < count; i++) mx = m[i] > mx ? m[i] : mx;
    for (size_t i = 0; i < count; i++) m[i] = afx_top_db_floor(m[i], mx, top_db);
}

/* DCT of every frame, compacting rows from n_mels to n_mfcc in place (rows only move left). */
static void apply_dct(const afx_plan *plan, cpu_state *s, int64_t frames) {
    const afx_params *p = &plan->p;
    for (int64_t t = 0; t < frames; t++) {
        const float *src = s->matrix + (size_t)t * p->n_mels;
        for (int k = 0; k < p->n_mfcc; k++) {
            const float *c = plan->dct + (size_t)k * p->n_mels;
            float acc = 0.0f;
            for (int n = 0; n < p->n_mels; n++) acc += c[n] * src[n];
            s->row[k] = acc;
        }
        if (p->mfcc_energy) s->row[0] = s->log_energy[t];  /* Kaldi: after the lifter */
        memcpy(s->matrix + (size_t)t * p->n_mfcc, s->row, sizeof(float) * (size_t)p->n_mfcc);
    }
}

static void apply_normalize(const afx_plan *plan, cpu_state *s, int64_t frames) {
    const afx_params *p = &plan->p;
    int nf = plan->n_features;
    float *m = s->matrix;
    size_t count = (size_t)frames * (size_t)nf;
    if (count == 0) return;
    if (p->normalize == AFX_NORM_FEATURE) {
        double *sum = s->stats, *sq = s->stats + nf;
        memset(s->stats, 0, sizeof(double) * 2 * (size_t)nf);
        for (int64_t t = 0; t < frames; t++)
            for (int f = 0; f < nf; f++) sum[f] += m[(size_t)t * nf + f];
        for (int f = 0; f < nf; f++) sum[f] /= (double)frames;
        for (int64_t t = 0; t < frames; t++)
            for (int f = 0; f < nf; f++) {
                double d = m[(size_t)t * nf + f] - sum[f];
                sq[f] += d * d;
            }
        for (int f = 0; f < nf; f++) sq[f] = afx_norm_inv_std(afx_norm_variance(sq[f], (double)frames, p->norm_unbiased), p->norm_eps,
                                                      p->norm_vars);
        for (int64_t t = 0; t < frames; t++)
            for (int f = 0; f < nf; f++) m[(size_t)t * nf + f] = afx_norm_apply(m[(size_t)t * nf + f], sum[f], sq[f]);
        return;
    }
    double mean = 0.0, var = 0.0, lo = m[0], hi = m[0];
    for (size_t i = 0; i < count; i++) {
        mean += m[i];
        lo = m[i] < lo ? m[i] : lo;
        hi = m[i] > hi ? m[i] : hi;
    }
    mean /= (double)count;
    if (p->normalize == AFX_NORM_MINMAX) {
        for (size_t i = 0; i < count; i++) m[i] = afx_minmax_apply(m[i], lo, hi);
        return;
    }
    for (size_t i = 0; i < count; i++) var += (m[i] - mean) * (m[i] - mean);
    double inv = afx_norm_inv_std(afx_norm_variance(var, (double)count, p->norm_unbiased), p->norm_eps, p->norm_vars);
    for (size_t i = 0; i < count; i++) m[i] = afx_norm_apply(m[i], mean, inv);
}

static void apply_masks(const afx_plan *plan, cpu_state *s, int64_t frames, uint64_t clip_id) {
    const afx_params *p = &plan->p;
    int nf = plan->n_features;
    size_t count = (size_t)frames * (size_t)nf;
    if (count == 0 || (p->n_time_masks == 0 && p->n_freq_masks == 0)) return;
    float value = 0.0f;
    if (p->mask_value == AFX_MASK_MEAN) {
        double sum = 0.0;
        for (size_t i = 0; i < count; i++) sum += s->matrix[i];
        value = (float)(sum / (double)count);
    }
    for (int m = 0; m < p->n_time_masks; m++) {
        int64_t start, width;
        afx_mask_draw(p->mask_seed, clip_id, AFX_MASK_KIND_TIME, m, p->time_mask_param, frames, &start, &width);
        for (int64_t t = start; t < start + width; t++)
            for (int f = 0; f < nf; f++) s->matrix[(size_t)t * nf + f] = value;
    }
    for (int m = 0; m < p->n_freq_masks; m++) {
        int64_t start, width;
        afx_mask_draw(p->mask_seed, clip_id, AFX_MASK_KIND_FREQ, m, p->freq_mask_param, nf, &start, &width);
        for (int64_t t = 0; t < frames; t++)
            for (int64_t f = start; f < start + width; f++) s->matrix[(size_t)t * nf + (size_t)f] = value;
    }
}

/* Stores element i of the output array in the plan's output dtype. */
static void store(void *data, afx_dtype dtype, size_t i, float v) {
    if (dtype == AFX_DTYPE_F32) ((float *)data)[i] = v;
    else if (dtype == AFX_DTYPE_F16) ((uint16_t *)data)[i] = afx_f32_to_f16(v);
    else ((uint16_t *)data)[i] = afx_f32_to_bf16(v);
}

/* Zeroes elements [i, i + n) of the output (0.0 is all-zero bits in every dtype). */
static void store_zeros(void *data, afx_dtype dtype, size_t i, size_t n) {
    size_t es = afx_dtype_size(dtype);
    memset((char *)data + i * es, 0, n * es);
}

/* Writes the clip's matrix to its slot of the batch output (pooled, FT or TF), zeroing padding. */
static void write_output(const afx_plan *plan, cpu_state *s, int64_t frames, const afx_output *out, int b) {
    int nf = plan->n_features;
    afx_dtype dt = plan->p.output_dtype;
    const float *m = s->matrix;
    if (plan->pooled_size) {
        size_t base = (size_t)b * (size_t)plan->pooled_size;
        for (int f = 0; f < nf; f++) {
            double sum = 0.0, sq = 0.0;
            for (int64_t t = 0; t < frames; t++) sum += m[(size_t)t * nf + f];
            double mean = frames > 0 ? sum / (double)frames : 0.0;
            for (int64_t t = 0; t < frames; t++) {
                double d = m[(size_t)t * nf + f] - mean;
                sq += d * d;
            }
            store(out->data, dt, base + (size_t)f, (float)mean);
            if (plan->p.pooling == AFX_POOL_MEAN_STD)
                store(out->data, dt, base + (size_t)(nf + f), frames > 0 ? (float)sqrt(sq / (double)frames) : 0.0f);
        }
        return;
    }
    size_t stride = (size_t)out->frames_stride, base = (size_t)b * (size_t)nf * stride;
    if (plan->p.layout == AFX_LAYOUT_TF) {
        if (dt == AFX_DTYPE_F32) memcpy((float *)out->data + base, m, sizeof(float) * (size_t)frames * (size_t)nf);
        else
            for (size_t i = 0; i < (size_t)frames * (size_t)nf; i++) store(out->data, dt, base + i, m[i]);
        store_zeros(out->data, dt, base + (size_t)frames * nf, (stride - (size_t)frames) * (size_t)nf);
        return;
    }
    for (int f = 0; f < nf; f++) {
        size_t row = base + (size_t)f * stride;
        for (int64_t t = 0; t < frames; t++) store(out->data, dt, row + (size_t)t, m[(size_t)t * nf + f]);
        store_zeros(out->data, dt, row + (size_t)frames, stride - (size_t)frames);
    }
}

static void zero_slot(const afx_plan *plan, const afx_output *out, int b) {
    size_t slot = plan->pooled_size ? (size_t)plan->pooled_size : (size_t)plan->n_features * (size_t)out->frames_stride;
    store_zeros(out->data, plan->p.output_dtype, (size_t)b * slot, slot);
}

static void process_clip(const afx_plan *plan, cpu_state *s, const afx_input *in, const afx_output *out, int b) {
    const afx_params *p = &plan->p;
    int64_t frames = out->n_frames[b];
    for (int64_t t = 0; t < frames; t++) {
        load_segment(plan, s, in, b, t);
        s->log_energy[t] = frame_spectrum(plan, s);
        base_row(plan, s, s->matrix + (size_t)t * plan->n_base);
    }
    if (plan->floor_range >= 0.0f) apply_top_db(s->matrix, (size_t)frames * plan->n_base, plan->floor_range);
    if (p->feature == AFX_FEATURE_MFCC) apply_dct(plan, s, frames);
    if (p->out_scale != 1.0f || p->out_bias != 0.0f) {
        size_t count = (size_t)frames * (size_t)plan->n_features;
        for (size_t i = 0; i < count; i++) s->matrix[i] = afx_affine(s->matrix[i], p->out_scale, p->out_bias);
    }
    if (p->normalize != AFX_NORM_NONE) apply_normalize(plan, s, frames);
    apply_masks(plan, s, frames, in->first_clip_index + (uint64_t)b);
    write_output(plan, s, frames, out, b);
}

static afx_status cpu_execute(afx_plan *plan, const afx_input *in, afx_output *out) {
    cpu_state *s = plan->backend_state;
    afx_status st = AFX_OK;
    for (int b = 0; b < in->n_clips; b++) {
        int64_t bad = first_bad_sample(plan, in, b);
        if (bad >= 0) {
            float v = ((const float *)in->clips[b])[bad];
            if (st == AFX_OK)  /* name the first refused clip; keep computing the others */
                st = AFX_PLAN_FAIL(plan, AFX_ERR_INVALID_INPUT,
                                   "clip %d (global index %llu): sample %lld (channel %d) is %s; clip refused", b,
                                   (unsigned long long)(in->first_clip_index + (uint64_t)b),
                                   (long long)(bad / in->n_channels), (int)(bad % in->n_channels),
                                   isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"));
            out->n_frames[b] = -1;
            zero_slot(plan, out, b);
            continue;
        }
        process_clip(plan, s, in, out, b);
    }
    return st;
}

const afx_backend_ops afx_cpu_backend = {
    .name = "cpu",
    .init = cpu_init,
    .execute = cpu_execute,
    .destroy = cpu_destroy,
};
