/*
 * cpu_backend.c: the CPU backend. Blocks of frames on a thread pool owned by the plan.
 *
 * A call runs in waves: as many consecutive clips as fit in the plan's feature arena (at least one clip
 * of max_samples). Within a wave every clip is cut into blocks of AFX_CPU_BLOCK frames (cpu_internal.h)
 * and the pipeline runs as a few passes over all blocks of the wave, in parallel, separated by serial
 * steps that combine each clip's per-block partial statistics in block order:
 *
 *   frames (cpu_frames.c: framing, window, FFT, |X|^p, mel, log)  | clip max  ->
 *   top_db/log_range floor, DCT, out_scale/out_bias              | normalization statistics  ->
 *   normalization                                                 | mask mean  ->
 *   masks, output (FT through a block-sized transpose, or TF; output dtype) and the finite check,
 *   or, with pooling, per-feature statistics and then the pooled vector.
 *
 * Passes are fused where no statistic separates them (the plan's list, build_passes). A clip whose
 * samples contain NaN/Inf is refused before any work; a clip whose final features are not all finite is
 * refused after (n_frames -1, slot zeroed), and the call returns AFX_ERR_INVALID_INPUT naming the first
 * refused clip. Everything is allocated at plan creation; a call allocates nothing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/half.h"
#include "common/rng.h"
#include "cpu_internal.h"
#include "log/log.h"
#include "mask/mask.h"
#include "norm/norm.h"

/* Feature arena budget beyond one max_samples clip: lets a wave hold many short clips, so that a batch of
 * short clips also spreads over every thread. */
#define ARENA_BUDGET_BYTES ((size_t)32 << 20)
/* Most clips per wave: bounds the block table and the per-feature partials. */
enum { WAVE_CLIPS = 256 };
/* Most slices a clip's NaN scan is cut into. */
enum { SCAN_SLICES_MAX = 16 };

/* ---- plan setup ---- */

static void cpu_destroy(afx_plan *plan) {
    afx_cpu_state *s = plan->backend_state;
    if (!s) return;
    afx_cpu_pool_free(s->pool);
    if (s->workers)
        for (int i = 0; i < s->n_workers; i++) {
            afx_cpu_fft_free(s->workers[i].fft);
            free(s->workers[i].seg);
            free(s->workers[i].spec);
            free(s->workers[i].pow);
            free(s->workers[i].tile);
        }
    free(s->workers);
    free(s->arena);
    free(s->energy);
    free(s->blocks);
    free(s->vec);
    free(s->scan);
    free(s);
    plan->backend_state = NULL;
}

/* The statistics a pass must leave, in pipeline order, cut into passes (see the file comment). */
static void build_passes(const afx_plan *plan, afx_cpu_state *s) {
    const afx_params *p = &plan->p;
    unsigned ops = AFX_CPU_OP_FRAMES;
    int n = 0;
#define CUT(part)                                                   \
    do {                                                            \
        s->passes[n].ops = ops;                                     \
        s->passes[n].partial = (part);                              \
        n++;                                                        \
        ops = 0;                                                    \
    } while (0)
    if (plan->floor_range >= 0.0f) {
        CUT(AFX_CPU_PART_MAX);
        ops |= AFX_CPU_OP_FLOOR;
    }
    if (p->feature == AFX_FEATURE_MFCC) ops |= AFX_CPU_OP_DCT;
    if (p->out_scale != 1.0f || p->out_bias != 0.0f) ops |= AFX_CPU_OP_AFFINE;
    if (p->normalize == AFX_NORM_FEATURE) {
        CUT(AFX_CPU_PART_SUM_F);
        if (p->norm_vars) CUT(AFX_CPU_PART_SQ_F);
        ops |= AFX_CPU_OP_NORM;
    } else if (p->normalize == AFX_NORM_UTTERANCE) {
        CUT(AFX_CPU_PART_SUM);
        if (p->norm_vars) CUT(AFX_CPU_PART_SQ);
        ops |= AFX_CPU_OP_NORM;
    } else if (p->normalize == AFX_NORM_MINMAX) {
        CUT(AFX_CPU_PART_MINMAX);
        ops |= AFX_CPU_OP_NORM;
    }
    if (p->n_time_masks > 0 || p->n_freq_masks > 0) {
        if (p->mask_value == AFX_MASK_MEAN) CUT(AFX_CPU_PART_MASK_SUM);
        ops |= AFX_CPU_OP_MASK;
    }
    if (plan->pooled_size) {
        CUT(AFX_CPU_PART_POOL_SUM_F);
        if (p->pooling == AFX_POOL_MEAN_STD) CUT(AFX_CPU_PART_POOL_SQ_F);
    } else {
        ops |= AFX_CPU_OP_WRITE;
        CUT(AFX_CPU_PART_NONE);
    }
#undef CUT
    s->n_passes = n;
}

static afx_status cpu_init(afx_plan *plan) {
    const afx_params *p = &plan->p;
    afx_cpu_state *s = calloc(1, sizeof *s);
    if (!s) return AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY, "cannot allocate the CPU backend state");
    plan->backend_state = s;
    s->plan = plan;
    s->simple_frames = p->dither == 0.0f && !p->remove_dc_offset && p->preemphasis == 0.0f &&
                       !(p->feature == AFX_FEATURE_MFCC && p->mfcc_energy);
    build_passes(plan, s);

    int threads = p->cpu_threads > 0 ? p->cpu_threads : afx_cpu_online_cores();
    AFX_FORWARD(afx_cpu_pool_create(threads, &s->pool, plan->err, sizeof plan->err));
    s->n_workers = afx_cpu_pool_size(s->pool);
    s->workers = calloc((size_t)s->n_workers, sizeof *s->workers);
    if (!s->workers) return AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY, "cannot allocate %d CPU workers", s->n_workers);
    for (int i = 0; i < s->n_workers; i++) {
        afx_cpu_worker *w = &s->workers[i];
        AFX_FORWARD(afx_cpu_fft_create(plan->n_fft, &w->fft, plan->err, sizeof plan->err));
        w->seg = calloc((size_t)plan->win, sizeof(float));
        w->spec = calloc(afx_mul_size((size_t)plan->n_freq, AFX_CPU_BLOCK), sizeof(float));
        w->tile = calloc(afx_mul_size((size_t)plan->n_base, AFX_CPU_BLOCK), sizeof(float));
        w->pow = calloc((size_t)plan->n_freq, sizeof(float));
        if (!w->seg || !w->spec || !w->tile || !w->pow)
            return AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY, "cannot allocate the scratch of CPU thread %d", i);
    }

    /* Arena: one clip of max_samples at least, more rows (up to the budget) for waves of short clips. */
    size_t row_bytes = sizeof(float) * (size_t)plan->n_base;
    int64_t rows = plan->max_frames > 0 ? plan->max_frames : 1;
    int64_t budget_rows = (int64_t)(ARENA_BUDGET_BYTES / row_bytes);
    int64_t batch_rows = (int64_t)p->max_batch * rows;
    if (budget_rows > rows) rows = batch_rows < budget_rows ? batch_rows : budget_rows;
    size_t cells = afx_mul_size((size_t)rows, (size_t)plan->n_base);
    if (!cells || cells > SIZE_MAX / sizeof(float))
        return AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY,
                             "max_samples=%lld gives %lld frames x %d values: too large for the CPU scratch",
                             (long long)p->max_samples, (long long)plan->max_frames, plan->n_base);
    s->arena_rows = rows;
    s->arena = malloc(cells * sizeof(float));
    s->energy = malloc((size_t)rows * sizeof(float));
    int wave_clips = p->max_batch < WAVE_CLIPS ? p->max_batch : WAVE_CLIPS;
    s->blocks_cap = rows / AFX_CPU_BLOCK + wave_clips + 1;
    s->blocks = calloc((size_t)s->blocks_cap, sizeof *s->blocks);
    int need_vec = p->normalize == AFX_NORM_FEATURE || plan->pooled_size;
    if (need_vec) s->vec = malloc(afx_mul_size((size_t)s->blocks_cap, 4 * (size_t)plan->n_features) * sizeof(double));
    s->scan_slices = s->n_workers < SCAN_SLICES_MAX ? s->n_workers : SCAN_SLICES_MAX;
    s->scan = malloc(afx_mul_size((size_t)p->max_batch, (size_t)s->scan_slices) * sizeof(int64_t));
    if (!s->arena || !s->energy || !s->blocks || (need_vec && !s->vec) || !s->scan)
        return AFX_PLAN_FAIL(plan, AFX_ERR_OUT_OF_MEMORY,
                             "cannot allocate CPU scratch for max_samples=%lld (%lld frames x %d values)",
                             (long long)p->max_samples, (long long)rows, plan->n_base);
    return AFX_OK;
}

/* ---- output stores ---- */

/* Zeroes elements [i, i + n) of the output (0.0 is all-zero bits in every dtype). n == 0 touches nothing,
 * so an empty output with data == NULL is fine. */
static void store_zeros(void *data, afx_dtype dtype, size_t i, size_t n) {
    if (n == 0) return;
    size_t es = afx_dtype_size(dtype);
    memset((char *)data + i * es, 0, n * es);
}

static void zero_slot(const afx_plan *plan, const afx_output *out, int b) {
    size_t slot = plan->pooled_size ? (size_t)plan->pooled_size : (size_t)plan->n_features * (size_t)out->frames_stride;
    store_zeros(out->data, plan->p.output_dtype, (size_t)b * slot, slot);
}

/* count values from src (stride sstride) to dst element di (stride dstride) in the output dtype. */
static void store_strided(void *data, afx_dtype dt, size_t di, size_t dstride, const float *src, size_t sstride,
                          size_t count) {
    if (dt == AFX_DTYPE_F32) {
        float *d = (float *)data + di;
        for (size_t i = 0; i < count; i++) d[i * dstride] = src[i * sstride];
    } else if (dt == AFX_DTYPE_F16) {
        uint16_t *d = (uint16_t *)data + di;
        for (size_t i = 0; i < count; i++) d[i * dstride] = afx_f32_to_f16(src[i * sstride]);
    } else {
        uint16_t *d = (uint16_t *)data + di;
        for (size_t i = 0; i < count; i++) d[i * dstride] = afx_f32_to_bf16(src[i * sstride]);
    }
}

/* ---- one pass over one block ---- */

static void apply_masks(const afx_cpu_state *s, const afx_cpu_block *k, float value) {
    const afx_params *p = &s->plan->p;
    const int nf = s->plan->n_features, nb = s->plan->n_base;
    const int64_t frames = s->out->n_frames[k->clip];
    const uint64_t clip_id = s->in->first_clip_index + (uint64_t)k->clip;
    for (int m = 0; m < p->n_time_masks; m++) {
        int64_t start, width;
        afx_mask_draw(p->mask_seed, clip_id, AFX_MASK_KIND_TIME, m, p->time_mask_param, frames, &start, &width);
        int64_t a = start > k->t0 ? start : k->t0, e = start + width < k->t1 ? start + width : k->t1;
        for (int64_t t = a; t < e; t++)
            for (int f = 0; f < nf; f++) k->rows[(size_t)(t - k->t0) * nb + f] = value;
    }
    for (int m = 0; m < p->n_freq_masks; m++) {
        int64_t start, width;
        afx_mask_draw(p->mask_seed, clip_id, AFX_MASK_KIND_FREQ, m, p->freq_mask_param, nf, &start, &width);
        for (int64_t t = k->t0; t < k->t1; t++)
            for (int64_t f = start; f < start + width; f++) k->rows[(size_t)(t - k->t0) * nb + (size_t)f] = value;
    }
}

/* The block's rows to its clip's output slot, zeroing the padding frames after the clip's last block,
 * and the first value that does not fit the output dtype (frame-major: NaN, Inf, or beyond float16's or
 * bfloat16's range) into bad_t/bad_f/bad_v. */
static void write_block(const afx_cpu_state *s, afx_cpu_block *k) {
    const afx_plan *plan = s->plan;
    const afx_output *out = s->out;
    const int nf = plan->n_features, nb = plan->n_base;
    const afx_dtype dt = plan->p.output_dtype;
    const size_t stride = (size_t)out->frames_stride, base = (size_t)k->clip * (size_t)nf * stride;
    const size_t n_rows = (size_t)(k->t1 - k->t0);
    const int64_t frames = out->n_frames[k->clip];
    k->bad_t = -1;
    for (size_t r = 0; r < n_rows && k->bad_t < 0; r++) {
        const float *x = k->rows + r * nb;
        if (!afx_cpu_any_unfit(x, (size_t)nf, (int)dt)) continue;
        for (int f = 0; f < nf; f++)
            if (!afx_fits_dtype(x[f], (int)dt)) {
                k->bad_t = k->t0 + (int64_t)r;
                k->bad_f = f;
                k->bad_v = x[f];
                break;
            }
    }
    if (plan->p.layout == AFX_LAYOUT_TF) {
        for (size_t r = 0; r < n_rows; r++)
            store_strided(out->data, dt, base + ((size_t)k->t0 + r) * (size_t)nf, 1, k->rows + r * nb, 1, (size_t)nf);
        if (k->t1 == frames) store_zeros(out->data, dt, base + (size_t)frames * nf, (stride - (size_t)frames) * nf);
        return;
    }
    /* FT: a transpose of the block's n_rows x nf tile, which stays in the L1 cache. */
    for (int f = 0; f < nf; f++) {
        size_t row = base + (size_t)f * stride;
        store_strided(out->data, dt, row + (size_t)k->t0, 1, k->rows + f, (size_t)nb, n_rows);
        if (k->t1 == frames) store_zeros(out->data, dt, row + (size_t)frames, stride - (size_t)frames);
    }
}

/* DCT of the block's rows (n_mels values each, already floored) into their first n_mfcc values: the same
 * float sum per coefficient as a row-by-row product (from 0, mels in order), computed for AFX_CPU_BLOCK
 * frames at once over a transposed tile so that the inner loop vectorizes. Kaldi's energy replaces c0. */
static void dct_block(const afx_plan *plan, afx_cpu_worker *w, const afx_cpu_block *k) {
    const afx_params *p = &plan->p;
    const int nb = plan->n_base, rows = (int)(k->t1 - k->t0);
    for (int r = 0; r < rows; r++)
        for (int n = 0; n < p->n_mels; n++) w->tile[(size_t)n * AFX_CPU_BLOCK + r] = k->rows[(size_t)r * nb + n];
    float acc[AFX_CPU_BLOCK];
    for (int c = 0; c < p->n_mfcc; c++) {
        const float *d = plan->dct + (size_t)c * p->n_mels;
        for (int r = 0; r < AFX_CPU_BLOCK; r++) acc[r] = 0.0f;
        for (int n = 0; n < p->n_mels; n++) {
            const float dn = d[n], *col = w->tile + (size_t)n * AFX_CPU_BLOCK;
            for (int r = 0; r < AFX_CPU_BLOCK; r++) acc[r] += dn * col[r];
        }
        for (int r = 0; r < rows; r++) k->rows[(size_t)r * nb + c] = acc[r];
    }
    if (p->mfcc_energy)  /* Kaldi: after the lifter */
        for (int r = 0; r < rows; r++) k->rows[(size_t)r * nb] = k->energy[r];
}

static void run_pass(void *ctx, int worker, int64_t unit) {
    afx_cpu_state *s = ctx;
    const afx_plan *plan = s->plan;
    const afx_params *p = &plan->p;
    const afx_cpu_pass *pass = &s->passes[s->pass];
    afx_cpu_block *k = &s->blocks[unit];
    const afx_cpu_block *c = &s->blocks[k->first];
    afx_cpu_worker *w = &s->workers[worker];
    const int nf = plan->n_features, nb = plan->n_base;
    const size_t n_rows = (size_t)(k->t1 - k->t0);
    const unsigned ops = pass->ops;

    if (ops & AFX_CPU_OP_FRAMES) afx_cpu_frames(s, w, k);
    const unsigned row_ops = ops & (AFX_CPU_OP_FLOOR | AFX_CPU_OP_DCT | AFX_CPU_OP_AFFINE | AFX_CPU_OP_NORM);
    if (row_ops) {
        const double *vc = s->vec ? s->vec + (size_t)k->first * 4 * (size_t)nf : NULL;
        if (ops & AFX_CPU_OP_FLOOR)
            for (size_t i = 0; i < n_rows * (size_t)nb; i++) k->rows[i] = afx_top_db_floor(k->rows[i], c->c_max, plan->floor_range);
        if (ops & AFX_CPU_OP_DCT) dct_block(plan, w, k);
        for (size_t r = 0; r < n_rows; r++) {
            float *x = k->rows + r * nb;
            if (ops & AFX_CPU_OP_AFFINE)
                for (int i = 0; i < nf; i++) x[i] = afx_affine(x[i], p->out_scale, p->out_bias);
            if (ops & AFX_CPU_OP_NORM) {
                if (p->normalize == AFX_NORM_FEATURE)
                    for (int i = 0; i < nf; i++) x[i] = afx_norm_apply(x[i], vc[i], p->norm_vars ? vc[nf + i] : 1.0);
                else if (p->normalize == AFX_NORM_UTTERANCE)
                    for (int i = 0; i < nf; i++) x[i] = afx_norm_apply(x[i], c->c_mean, p->norm_vars ? c->c_inv : 1.0);
                else
                    for (int i = 0; i < nf; i++) x[i] = afx_minmax_apply(x[i], c->c_lo, c->c_hi);
            }
        }
    }
    if (ops & AFX_CPU_OP_MASK) apply_masks(s, k, p->mask_value == AFX_MASK_MEAN ? c->c_mask : 0.0f);
    if (ops & AFX_CPU_OP_WRITE) write_block(s, k);

    double *v = s->vec ? s->vec + (size_t)unit * 4 * (size_t)nf : NULL;
    const double *vc = s->vec ? s->vec + (size_t)k->first * 4 * (size_t)nf : NULL;
    switch (pass->partial) {
    case AFX_CPU_PART_SUM:
    case AFX_CPU_PART_MASK_SUM: {
        double sum = 0.0;
        for (size_t r = 0; r < n_rows; r++)
            for (int i = 0; i < nf; i++) sum += k->rows[r * nb + i];
        k->sum = sum;
        break;
    }
    case AFX_CPU_PART_SQ: {
        double sq = 0.0, mean = c->c_mean;
        for (size_t r = 0; r < n_rows; r++)
            for (int i = 0; i < nf; i++) {
                double d = k->rows[r * nb + i] - mean;
                sq += d * d;
            }
        k->sq = sq;
        break;
    }
    case AFX_CPU_PART_MINMAX: {
        double lo = INFINITY, hi = -INFINITY;
        for (size_t r = 0; r < n_rows; r++)
            for (int i = 0; i < nf; i++) {
                double x = k->rows[r * nb + i];
                lo = x < lo ? x : lo;
                hi = x > hi ? x : hi;
            }
        k->lo = lo;
        k->hi = hi;
        break;
    }
    case AFX_CPU_PART_SUM_F:
    case AFX_CPU_PART_POOL_SUM_F: {
        double *acc = v + (pass->partial == AFX_CPU_PART_SUM_F ? 0 : 2 * (size_t)nf);
        for (int i = 0; i < nf; i++) acc[i] = 0.0;
        for (size_t r = 0; r < n_rows; r++)
            for (int i = 0; i < nf; i++) acc[i] += k->rows[r * nb + i];
        break;
    }
    case AFX_CPU_PART_SQ_F:
    case AFX_CPU_PART_POOL_SQ_F: {
        size_t at = pass->partial == AFX_CPU_PART_SQ_F ? 0 : 2 * (size_t)nf;
        const double *mean = vc + at;
        double *acc = v + at + nf;
        for (int i = 0; i < nf; i++) acc[i] = 0.0;
        for (size_t r = 0; r < n_rows; r++)
            for (int i = 0; i < nf; i++) {
                double d = k->rows[r * nb + i] - mean[i];
                acc[i] += d * d;
            }
        break;
    }
    default: break;
    }
}

/* ---- serial combine of a clip's blocks [f, e) after a pass ---- */

static void combine(afx_cpu_state *s, int partial, int f, int e) {
    const afx_plan *plan = s->plan;
    const afx_params *p = &plan->p;
    const int nf = plan->n_features;
    afx_cpu_block *c = &s->blocks[f];
    const double frames = (double)s->out->n_frames[c->clip], count = frames * nf;
    double *vc = s->vec ? s->vec + (size_t)f * 4 * (size_t)nf : NULL;
    switch (partial) {
    case AFX_CPU_PART_MAX: {
        float mx = -INFINITY;
        for (int u = f; u < e; u++) mx = s->blocks[u].max > mx ? s->blocks[u].max : mx;
        c->c_max = mx;
        break;
    }
    case AFX_CPU_PART_SUM:
    case AFX_CPU_PART_MASK_SUM: {
        double sum = 0.0;
        for (int u = f; u < e; u++) sum += s->blocks[u].sum;
        if (partial == AFX_CPU_PART_SUM) c->c_mean = sum / count;
        else c->c_mask = (float)(sum / count);
        break;
    }
    case AFX_CPU_PART_SQ: {
        double sq = 0.0;
        for (int u = f; u < e; u++) sq += s->blocks[u].sq;
        c->c_inv = afx_norm_inv_std(afx_norm_variance(sq, count, p->norm_unbiased), p->norm_eps, p->norm_vars);
        break;
    }
    case AFX_CPU_PART_MINMAX: {
        double lo = INFINITY, hi = -INFINITY;
        for (int u = f; u < e; u++) {
            lo = s->blocks[u].lo < lo ? s->blocks[u].lo : lo;
            hi = s->blocks[u].hi > hi ? s->blocks[u].hi : hi;
        }
        c->c_lo = lo;
        c->c_hi = hi;
        break;
    }
    case AFX_CPU_PART_SUM_F:
    case AFX_CPU_PART_POOL_SUM_F: {
        size_t at = partial == AFX_CPU_PART_SUM_F ? 0 : 2 * (size_t)nf;
        for (int i = 0; i < nf; i++) {
            double sum = 0.0;
            for (int u = f; u < e; u++) sum += s->vec[(size_t)u * 4 * nf + at + i];
            vc[at + i] = sum / frames;
        }
        break;
    }
    case AFX_CPU_PART_SQ_F:
    case AFX_CPU_PART_POOL_SQ_F: {
        size_t at = (partial == AFX_CPU_PART_SQ_F ? 0 : 2 * (size_t)nf) + nf;
        for (int i = 0; i < nf; i++) {
            double sq = 0.0;
            for (int u = f; u < e; u++) sq += s->vec[(size_t)u * 4 * nf + at + i];
            vc[at + i] = partial == AFX_CPU_PART_SQ_F
                             ? afx_norm_inv_std(afx_norm_variance(sq, frames, p->norm_unbiased), p->norm_eps, p->norm_vars)
                             : sqrt(sq / frames);
        }
        break;
    }
    default: break;
    }
}

/* ---- refusals ---- */

typedef struct refusal {
    int clip;                 /* first refused clip of the call, or -1 */
    char msg[AFX_ERROR_MAX];
} refusal;

static const char *nonfinite_name(float v) { return isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"); }

/* Largest |mono sample x input_scale| of clip b (for the message of a spectrum overflow). */
static double largest_sample(const afx_plan *plan, const afx_input *in, int b) {
    int64_t used = in->lengths[b];
    if (plan->p.fixed_length > 0 && used > plan->p.fixed_length) used = plan->p.fixed_length;
    int64_t count = used * in->n_channels;
    double mx = 0.0;
    for (int64_t i = 0; i < count; i++) {
        double v = in->format == AFX_SAMPLE_F32 ? (double)((const float *)in->clips[b])[i]
                                                : (double)((const int16_t *)in->clips[b])[i] / 32768.0;
        mx = fabs(v) > mx ? fabs(v) : mx;
    }
    return mx * fabs((double)plan->p.input_scale);
}

/* Refuses clip b: n_frames -1, slot zeroed. 1 when its message is the one to keep (the lowest refused clip). */
static int refuse_clip(afx_cpu_state *s, refusal *r, int b) {
    s->out->n_frames[b] = -1;
    zero_slot(s->plan, s->out, b);
    if (r->clip >= 0 && r->clip < b) return 0;
    r->clip = b;
    return 1;
}

/* Refuses clip b for its NaN/Inf sample v (frame t, channel c). */
static void refuse_sample(afx_cpu_state *s, refusal *r, int b, int64_t t, int c, float v) {
    if (!refuse_clip(s, r, b)) return;
    snprintf(r->msg, sizeof r->msg, "clip %d (global index %llu): sample %lld (channel %d) is %s; clip refused", b,
             (unsigned long long)(s->in->first_clip_index + (uint64_t)b), (long long)t, c, nonfinite_name(v));
}

/* Refuses clip b for a final value v that does not fit the output dtype (frame t, feature f; t < 0: pooled
 * value f). extra >= 0: the largest |sample| x input_scale when the power spectrum overflowed. */
static void refuse_features(afx_cpu_state *s, refusal *r, int b, float v, int64_t t, int f, double extra) {
    if (!refuse_clip(s, r, b)) return;
    const unsigned long long global = (unsigned long long)(s->in->first_clip_index + (uint64_t)b);
    char at[64];
    if (t >= 0)
        snprintf(at, sizeof at, "frame %lld, feature %d", (long long)t, f);
    else
        snprintf(at, sizeof at, "pooled value %d", f);
    if (isfinite(v)) { /* finite in float32, beyond the 16-bit output's range */
        const int half = s->plan->p.output_dtype == AFX_DTYPE_F16;
        snprintf(r->msg, sizeof r->msg, "clip %d (global index %llu): features are not finite in %s (%g at %s is "
                 "beyond its largest value %s): use float32 output or scale them (out_scale); clip refused", b, global,
                 half ? "float16" : "bfloat16", (double)v, at, half ? "65504" : "3.39e38");
        return;
    }
    if (extra >= 0.0)
        snprintf(r->msg, sizeof r->msg, "clip %d (global index %llu): features are not finite (%s at %s): the float32 "
                 "power spectrum overflowed (largest |sample| x input_scale is %g); clip refused", b, global,
                 nonfinite_name(v), at, extra);
    else
        snprintf(r->msg, sizeof r->msg, "clip %d (global index %llu): features are not finite (%s at %s); clip refused",
                 b, global, nonfinite_name(v), at);
}

/* ---- the NaN/Inf sample scan: clips x slices, in parallel ---- */

static void scan_slice(void *ctx, int worker, int64_t unit) {
    (void)worker;
    afx_cpu_state *s = ctx;
    const afx_input *in = s->in;
    int b = (int)(unit / s->scan_slices), slice = (int)(unit % s->scan_slices);
    s->scan[unit] = -1;
    if (in->format != AFX_SAMPLE_F32) return;  /* int16 is always finite */
    int64_t used = in->lengths[b];
    if (s->plan->p.fixed_length > 0 && used > s->plan->p.fixed_length) used = s->plan->p.fixed_length;
    int64_t count = used * in->n_channels;
    int64_t a = count / s->scan_slices * slice, e = slice == s->scan_slices - 1 ? count : count / s->scan_slices * (slice + 1);
    const float *x = in->clips[b];
    for (int64_t i = a; i < e; i += 4096) {  /* chunks: a vectorized test, then the exact index */
        int64_t m = e - i < 4096 ? e - i : 4096;
        if (!afx_cpu_any_nonfinite(x + i, (size_t)m)) continue;
        for (int64_t j = i; j < i + m; j++)
            if (!isfinite(x[j])) {
                s->scan[unit] = j;
                return;
            }
    }
}

/* ---- a wave: clips [b0, b1) that are neither refused nor empty, with `n_blocks` blocks ---- */

static void run_wave(afx_cpu_state *s, int n_blocks, refusal *r) {
    const afx_plan *plan = s->plan;
    const int nf = plan->n_features;
    for (int i = 0; i < s->n_passes; i++) {
        s->pass = i;
        afx_cpu_pool_run(s->pool, run_pass, s, n_blocks);
        int partial = s->passes[i].partial;
        if (partial == AFX_CPU_PART_NONE) continue;
        for (int f = 0; f < n_blocks;) {
            int e = f + 1;
            while (e < n_blocks && s->blocks[e].first == f) e++;
            combine(s, partial, f, e);
            f = e;
        }
    }
    for (int f = 0; f < n_blocks;) {
        int e = f + 1;
        while (e < n_blocks && s->blocks[e].first == f) e++;
        const afx_cpu_block *c = &s->blocks[f];
        int b = c->clip, spec_bad = 0;
        for (int u = f; u < e; u++) spec_bad |= s->blocks[u].spec_bad;
        if (plan->pooled_size) {  /* the pooled vector is the clip's final feature */
            const double *vc = s->vec + (size_t)f * 4 * (size_t)nf;
            float vals[2];
            int bad = -1;
            float bad_v = 0.0f;
            size_t base = (size_t)b * (size_t)plan->pooled_size;
            for (int i = 0; i < plan->pooled_size && bad < 0; i++) {
                vals[0] = (float)(i < nf ? vc[2 * (size_t)nf + i] : vc[3 * (size_t)nf + (i - nf)]);
                if (!afx_fits_dtype(vals[0], (int)plan->p.output_dtype)) {
                    bad = i;
                    bad_v = vals[0];
                }
            }
            if (bad >= 0) {
                refuse_features(s, r, b, bad_v, -1, bad, spec_bad ? largest_sample(plan, s->in, b) : -1.0);
            } else {
                for (int i = 0; i < plan->pooled_size; i++) {
                    vals[0] = (float)(i < nf ? vc[2 * (size_t)nf + i] : vc[3 * (size_t)nf + (i - nf)]);
                    store_strided(s->out->data, plan->p.output_dtype, base + (size_t)i, 1, vals, 1, 1);
                }
            }
        } else {
            for (int u = f; u < e; u++)
                if (s->blocks[u].bad_t >= 0) {
                    refuse_features(s, r, b, s->blocks[u].bad_v, s->blocks[u].bad_t, s->blocks[u].bad_f,
                                    spec_bad ? largest_sample(plan, s->in, b) : -1.0);
                    break;
                }
        }
        f = e;
    }
}

static afx_status cpu_execute(afx_plan *plan, const afx_input *in, afx_output *out) {
    afx_cpu_state *s = plan->backend_state;
    s->in = in;
    s->out = out;
    refusal r = {-1, ""};

    /* Clips with a NaN/Inf sample among those used (fixed_length cuts the rest) are refused first. */
    afx_cpu_pool_run(s->pool, scan_slice, s, (int64_t)in->n_clips * s->scan_slices);
    for (int b = 0; b < in->n_clips; b++) {
        int64_t bad = -1;
        for (int i = 0; i < s->scan_slices && bad < 0; i++) bad = s->scan[(size_t)b * s->scan_slices + i];
        if (bad >= 0) {
            float v = ((const float *)in->clips[b])[bad];
            refuse_sample(s, &r, b, bad / in->n_channels, (int)(bad % in->n_channels), v);
        }
    }

    /* Waves of consecutive clips that fit the arena. */
    int n_blocks = 0, wave_clips = 0;
    int64_t rows = 0;
    for (int b = 0; b < in->n_clips; b++) {
        int64_t frames = out->n_frames[b];
        if (frames < 0) continue;  /* refused above */
        if (frames == 0) {         /* nothing to compute: its (possibly empty) slot is zeros */
            zero_slot(plan, out, b);
            continue;
        }
        int64_t nb = (frames + AFX_CPU_BLOCK - 1) / AFX_CPU_BLOCK;
        if (rows + frames > s->arena_rows || wave_clips == WAVE_CLIPS || n_blocks + nb > s->blocks_cap) {
            run_wave(s, n_blocks, &r);
            n_blocks = 0;
            wave_clips = 0;
            rows = 0;
        }
        int first = n_blocks;
        for (int64_t j = 0; j < nb; j++) {
            afx_cpu_block *k = &s->blocks[n_blocks++];
            k->clip = b;
            k->first = first;
            k->t0 = j * AFX_CPU_BLOCK;
            k->t1 = k->t0 + AFX_CPU_BLOCK < frames ? k->t0 + AFX_CPU_BLOCK : frames;
            k->rows = s->arena + (size_t)(rows + k->t0) * (size_t)plan->n_base;
            k->energy = s->energy + rows + k->t0;
            k->bad_t = -1;
            k->spec_bad = 0;
        }
        rows += frames;
        wave_clips++;
    }
    if (n_blocks) run_wave(s, n_blocks, &r);

    s->in = NULL;
    s->out = NULL;
    if (r.clip < 0) return AFX_OK;
    return afx_fail(plan->err, sizeof plan->err, AFX_ERR_INVALID_INPUT, "%s", r.msg);
}

const afx_backend_ops afx_cpu_backend = {
    .name = "cpu",
    .init = cpu_init,
    .execute = cpu_execute,
    .destroy = cpu_destroy,
};
