/*
 * cpu_frames.c: samples to base features for a block of frames: framing (padding by the plan's
 * convention), Kaldi's per-frame steps (dither, DC removal, energy, pre-emphasis) in Kaldi's order, the
 * window, the real FFT, |X|^power, and for mel features the sparse mel product and the log.
 *
 * The common case (no per-frame Kaldi step, every window sample inside the clip, mono input) reads the
 * clip in place: fft_in[k] = (x[first + k] * input_scale) * window[k], the same float operations in the
 * same order as the general path, so both give the same bits.
 */
#include <math.h>
#include <string.h>

#include "convert/convert.h"
#include "cpu_internal.h"
#include "frame/frame.h"
#include "log/log.h"
#include "mel/mel.h"
#include "spectrum/spectrum.h"

/* Mono sample j of a clip: channel mean, int16 scaled by 1/32768, then input_scale. */
static inline float clip_sample(const afx_input *in, const void *clip, int64_t j, float scale) {
    int ch = in->n_channels;
    float mono = in->format == AFX_SAMPLE_S16 ? afx_downmix_s16((const int16_t *)clip + j * ch, ch)
                                              : afx_downmix_f32((const float *)clip + j * ch, ch);
    return mono * scale;
}

static float log_energy_of(const float *x, int n, float energy_floor) {
    double e = 0.0;
    for (int i = 0; i < n; i++) e += (double)x[i] * x[i];
    return afx_log_energy_value(e, energy_floor);  /* Kaldi: Log(max(VecVec, epsilon)) */
}

/* The win windowed samples of frame t into dst (the FFT input at the window's offset); returns the
 * frame's log energy when the MFCC energy is wanted, else 0. */
static float window_frame(const afx_cpu_state *s, afx_cpu_worker *w, const afx_cpu_block *k, int64_t t, float *dst) {
    const afx_plan *plan = s->plan;
    const afx_params *p = &plan->p;
    const afx_input *in = s->in;
    const int b = k->clip, win = plan->win;
    const void *clip = in->clips[b];
    /* n: the clip's length as framed (fixed_length when set); samples past the real ones are zeros. */
    const int64_t n = p->fixed_length > 0 ? p->fixed_length : in->lengths[b];
    const int64_t n_real = in->lengths[b] < n ? in->lengths[b] : n;
    const int64_t first = afx_frame_first_sample(plan->framing, t, plan->n_fft, plan->win, plan->hop);
    const int inside = first >= 0 && first + win <= n_real;
    const float scale = p->input_scale, *window = plan->window;

    if (s->simple_frames && inside && in->n_channels == 1) {
        float *restrict d = dst;
        const float *restrict wn = window;
        if (in->format == AFX_SAMPLE_F32) {
            const float *restrict x = (const float *)clip + first;
            for (int i = 0; i < win; i++) d[i] = (x[i] * scale) * wn[i];
        } else {  /* v / 32768 is exact in float, as afx_downmix_s16's double division rounded to float */
            const int16_t *restrict x = (const int16_t *)clip + first;
            for (int i = 0; i < win; i++) d[i] = (((float)x[i] * (1.0f / 32768.0f)) * scale) * wn[i];
        }
        return 0.0f;
    }

    float *seg = w->seg;
    if (inside) {
        for (int i = 0; i < win; i++) seg[i] = clip_sample(in, clip, first + i, scale);
    } else {
        for (int i = 0; i < win; i++) {
            int64_t j = afx_pad_index(plan->pad, first + i, n);
            seg[i] = (j < 0 || j >= n_real) ? 0.0f : clip_sample(in, clip, j, scale);
        }
    }
    if (p->dither > 0.0f) {  /* Kaldi Dither(): Gaussian noise on the frame copy */
        uint64_t clip_id = in->first_clip_index + (uint64_t)b;
        for (int i = 0; i < win; i++)
            seg[i] = afx_dither_sample(seg[i], p->dither, p->dither_seed, clip_id, (uint64_t)t, (uint64_t)i);
    }
    if (p->remove_dc_offset) {
        double sum = 0.0;
        for (int i = 0; i < win; i++) sum += seg[i];
        float mean = (float)(sum / win);
        for (int i = 0; i < win; i++) seg[i] -= mean;
    }
    const int want_energy = p->feature == AFX_FEATURE_MFCC && p->mfcc_energy;
    float le = 0.0f;
    if (want_energy && p->raw_energy) le = log_energy_of(seg, win, p->energy_floor);
    if (p->preemphasis != 0.0f)
        for (int i = 0; i < win; i++) dst[i] = afx_preemph_at(seg, i, p->preemphasis) * window[i];
    else
        for (int i = 0; i < win; i++) dst[i] = seg[i] * window[i];
    if (want_energy && !p->raw_energy) le = log_energy_of(dst, win, p->energy_floor);
    return le;
}

void afx_cpu_frames(const afx_cpu_state *s, afx_cpu_worker *w, afx_cpu_block *k) {
    const afx_plan *plan = s->plan;
    const afx_params *p = &plan->p;
    const int n_freq = plan->n_freq, n_base = plan->n_base, log_kind = plan->log_kind;
    const int rows = (int)(k->t1 - k->t0), mel = p->feature != AFX_FEATURE_SPECTROGRAM;
    const float power = p->power;
    float *dst = afx_cpu_fft_input(w->fft) + plan->fft_offset;
    int spec_bad = 0;
    /* Spectra: straight into the rows (spectrogram), or into the bin-major tile spec[bin][frame] that the
     * mel product below reads frame-parallel. */
    for (int r = 0; r < rows; r++) {
        const int64_t t = k->t0 + r;
        k->energy[r] = window_frame(s, w, k, t, dst);
        const float *c = afx_cpu_fft_execute(w->fft);
        float *row = k->rows + (size_t)r * n_base;
        float *restrict pw = mel ? w->pow : row;
        if (power == 2.0f)
            for (int i = 0; i < n_freq; i++) pw[i] = c[2 * i] * c[2 * i] + c[2 * i + 1] * c[2 * i + 1];
        else
            for (int i = 0; i < n_freq; i++) pw[i] = afx_power_value(c[2 * i], c[2 * i + 1], power);
        spec_bad |= afx_cpu_any_nonfinite(pw, (size_t)n_freq);
        if (mel)
            for (int i = 0; i < n_freq; i++) w->spec[(size_t)i * AFX_CPU_BLOCK + r] = pw[i];
    }
    if (mel) {
        /* Band i of every frame of the block at once: the same sum as afx_mel_band (from 0, bins in order,
         * float), so the same bits, but the inner loop runs over AFX_CPU_BLOCK frames and vectorizes.
         * Columns past `rows` hold stale values: computed, never stored. */
        float acc[AFX_CPU_BLOCK];
        for (int i = 0; i < p->n_mels; i++) {
            const float *wt = plan->mel_weights + (size_t)i * n_freq;
            for (int r = 0; r < AFX_CPU_BLOCK; r++) acc[r] = 0.0f;
            for (int b = plan->mel_lo[i]; b < plan->mel_hi[i]; b++) {
                const float wb = wt[b], *col = w->spec + (size_t)b * AFX_CPU_BLOCK;
                for (int r = 0; r < AFX_CPU_BLOCK; r++) acc[r] += wb * col[r];
            }
            for (int r = 0; r < rows; r++) {
                float v = acc[r];
                if (log_kind == AFX_LB_DB) v = afx_db_value(v, p->db_multiplier, p->db_amin, plan->db_ref_term);
                else if (log_kind >= 0) v = afx_log_value(v, p->log_offset, p->log_floor, log_kind);
                k->rows[(size_t)r * n_base + i] = v;
            }
        }
    }
    float mx = -INFINITY;
    if (plan->floor_range >= 0.0f)
        for (size_t i = 0; i < (size_t)rows * (size_t)n_base; i++) mx = k->rows[i] > mx ? k->rows[i] : mx;
    k->max = mx;
    k->spec_bad = spec_bad;
}
