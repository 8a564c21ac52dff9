// ref.h: float64 reference ("oracle") implementations and API helpers for the afx core tests.
//
// Everything here is derived from the contract in include/afx.h and from the published formulas of
// the peer libraries (librosa filters.mel, torchaudio melscale_fbanks, Kaldi feature-window.cc and
// mel-computations.cc). It never looks at the afx implementation.
#ifndef AFX_TESTS_REF_H
#define AFX_TESTS_REF_H

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "afx.h"

namespace ref {

using Vec = std::vector<double>;
using Mat = std::vector<Vec>;  // [frame][feature]

constexpr double kPi = 3.14159265358979323846;

// ------------------------------------------------------------------------------------------------
// Random test signals
// ------------------------------------------------------------------------------------------------
inline std::vector<float> uniform_noise(int64_t n, uint64_t seed, double amp = 0.5) {
    std::mt19937_64 g(seed);
    std::uniform_real_distribution<double> d(-amp, amp);
    std::vector<float> v((size_t)std::max<int64_t>(n, 0));
    for (auto &s : v) s = (float)d(g);
    return v;
}

inline bool any_nonzero(const std::vector<float> &v) {
    for (float s : v)
        if (s != 0.0f) return true;
    return false;
}

inline std::vector<float> sine(int64_t n, double freq, double sr, double amp = 1.0, double phase = 0.0) {
    std::vector<float> v((size_t)n);
    for (int64_t i = 0; i < n; i++) v[(size_t)i] = (float)(amp * std::cos(2.0 * kPi * freq * (double)i / sr + phase));
    return v;
}

inline Vec to_double(const std::vector<float> &v) { return Vec(v.begin(), v.end()); }

// ------------------------------------------------------------------------------------------------
// Resolved framing / STFT configuration (header rules, resolved independently of the library)
// ------------------------------------------------------------------------------------------------
struct Cfg {
    int sr, n_fft, win, hop;
    afx_window window;
    bool periodic, center, snip;
    afx_pad_mode pad;
    double power, preemph;
    bool dc;
};

inline int next_pow2(int v) {
    int p = 1;
    while (p < v) p *= 2;
    return p;
}

inline Cfg resolve(const afx_params &p) {
    Cfg c;
    c.sr = p.sample_rate;
    c.win = p.win_length == 0 ? p.n_fft : p.win_length;
    c.n_fft = p.round_to_power_of_two ? next_pow2(c.win) : p.n_fft;
    c.hop = p.hop_length == 0 ? c.win / 4 : p.hop_length;
    c.window = p.window;
    c.periodic = p.window_periodic != 0;
    c.center = p.center != 0;
    c.snip = p.snip_edges != 0;
    c.pad = p.pad_mode;
    c.power = p.power;
    c.preemph = p.preemphasis;
    c.dc = p.remove_dc_offset != 0;
    return c;
}

inline int64_t n_frames(const Cfg &c, int64_t n) {
    if (n <= 0) return 0;
    // afx.h: 1 + (n + 2*(n_fft/2) - n_fft)/hop, torch.stft/librosa's count for the n_fft/2 padding on
    // each side (1 + n/hop for even n_fft, 1 + (n-1)/hop for odd n_fft).
    if (c.center) return 1 + (n + 2 * (c.n_fft / 2) - c.n_fft) / c.hop;
    if (c.snip) return n < c.win ? 0 : 1 + (n - c.win) / c.hop;
    return (n + c.hop / 2) / c.hop;
}

inline Vec window(afx_window w, int len, bool periodic) {
    Vec v((size_t)len, 1.0);
    const double M = periodic ? (double)len : (double)(len - 1);
    for (int n = 0; n < len; n++) {
        const double a = 2.0 * kPi * n / M;
        switch (w) {
        case AFX_WINDOW_HANN: v[(size_t)n] = 0.5 - 0.5 * std::cos(a); break;
        case AFX_WINDOW_HAMMING: v[(size_t)n] = 0.54 - 0.46 * std::cos(a); break;
        case AFX_WINDOW_POVEY: v[(size_t)n] = std::pow(0.5 - 0.5 * std::cos(a), 0.85); break;
        case AFX_WINDOW_BLACKMAN: v[(size_t)n] = 0.42 - 0.5 * std::cos(a) + 0.08 * std::cos(2.0 * a); break;
        case AFX_WINDOW_RECTANGULAR: v[(size_t)n] = 1.0; break;
        }
    }
    return v;
}

// Sample i of the signal as seen by center=1 framing (padding by pad_mode; numpy-style reflection).
inline double padded_sample(const Vec &x, int64_t i, afx_pad_mode mode) {
    const int64_t n = (int64_t)x.size();
    if (i >= 0 && i < n) return x[(size_t)i];
    if (mode == AFX_PAD_CONSTANT || n == 0) return 0.0;
    if (n == 1) return x[0];
    const int64_t period = 2 * (n - 1);
    int64_t j = i % period;
    if (j < 0) j += period;
    if (j >= n) j = period - j;
    return x[(size_t)j];
}

// Kaldi ExtractWindow mirroring (snip_edges=0): x[-1] = x[0], x[n] = x[n-1].
inline double kaldi_sample(const Vec &x, int64_t i) {
    const int64_t n = (int64_t)x.size();
    while (i < 0 || i >= n) {
        if (i < 0) i = -i - 1;
        else i = 2 * n - 1 - i;
    }
    return x[(size_t)i];
}

// The win_length samples of frame t that get windowed (before any per-frame processing).
inline Vec frame_segment(const Cfg &c, const Vec &x, int64_t t) {
    Vec seg((size_t)c.win);
    if (c.center) {
        const int64_t start = t * c.hop - c.n_fft / 2 + (c.n_fft - c.win) / 2;
        for (int s = 0; s < c.win; s++) seg[(size_t)s] = padded_sample(x, start + s, c.pad);
    } else if (c.snip) {
        const int64_t start = t * c.hop;
        for (int s = 0; s < c.win; s++) seg[(size_t)s] = x[(size_t)(start + s)];
    } else {
        const int64_t start = t * c.hop + c.hop / 2 - c.win / 2;
        for (int s = 0; s < c.win; s++) seg[(size_t)s] = kaldi_sample(x, start + s);
    }
    return seg;
}

// Naive DFT power |X_k|^2, k = 0 .. n_fft/2, of seg zero-padded to n_fft. |X| does not depend on
// where in the FFT buffer the segment sits (a circular shift only changes phase).
inline Vec dft_power(const Vec &seg, int n_fft) {
    const int nb = n_fft / 2 + 1;
    Vec cs((size_t)n_fft), sn((size_t)n_fft);
    for (int m = 0; m < n_fft; m++) {
        cs[(size_t)m] = std::cos(2.0 * kPi * m / n_fft);
        sn[(size_t)m] = std::sin(2.0 * kPi * m / n_fft);
    }
    Vec out((size_t)nb);
    for (int k = 0; k < nb; k++) {
        double re = 0, im = 0;
        int64_t idx = 0;
        for (size_t n = 0; n < seg.size(); n++) {
            re += seg[n] * cs[(size_t)idx];
            im -= seg[n] * sn[(size_t)idx];
            idx += k;
            if (idx >= n_fft) idx -= n_fft;
        }
        out[(size_t)k] = re * re + im * im;
    }
    return out;
}

struct FrameInfo {
    Vec raw_energy;      // sum of squares after DC removal, before pre-emphasis and window
    Vec windowed_energy; // sum of squares after the window
};

// |STFT|^power, [frame][bin] (no dither).
inline Mat spectrogram(const Cfg &c, const Vec &x, FrameInfo *info = nullptr) {
    const int64_t nf = n_frames(c, (int64_t)x.size());
    const Vec w = window(c.window, c.win, c.periodic);
    Mat out;
    for (int64_t t = 0; t < nf; t++) {
        Vec seg = frame_segment(c, x, t);
        if (c.dc) {
            double m = 0;
            for (double v : seg) m += v;
            m /= (double)seg.size();
            for (double &v : seg) v -= m;
        }
        double e = 0;
        for (double v : seg) e += v * v;
        if (c.preemph != 0.0) {
            for (size_t i = seg.size() - 1; i > 0; i--) seg[i] -= c.preemph * seg[i - 1];
            seg[0] -= c.preemph * seg[0];
        }
        double ew = 0;
        for (size_t i = 0; i < seg.size(); i++) {
            seg[i] *= w[i];
            ew += seg[i] * seg[i];
        }
        if (info) {
            info->raw_energy.push_back(e);
            info->windowed_energy.push_back(ew);
        }
        Vec pw = dft_power(seg, c.n_fft);
        if (c.power != 2.0)
            for (double &v : pw) v = std::pow(v, c.power / 2.0);
        out.push_back(pw);
    }
    return out;
}

// ------------------------------------------------------------------------------------------------
// Mel filterbanks
// ------------------------------------------------------------------------------------------------
inline double hz_to_mel(afx_mel_scale s, double f) {
    switch (s) {
    case AFX_MEL_HTK: return 2595.0 * std::log10(1.0 + f / 700.0);
    case AFX_MEL_KALDI: return 1127.0 * std::log(1.0 + f / 700.0);
    case AFX_MEL_SLANEY:
    default: {
        const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
        const double logstep = std::log(6.4) / 27.0;
        if (f >= min_log_hz) return min_log_mel + std::log(f / min_log_hz) / logstep;
        return f / f_sp;
    }
    }
}

inline double mel_to_hz(afx_mel_scale s, double m) {
    switch (s) {
    case AFX_MEL_HTK: return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0);
    case AFX_MEL_KALDI: return 700.0 * (std::exp(m / 1127.0) - 1.0);
    case AFX_MEL_SLANEY:
    default: {
        const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
        const double logstep = std::log(6.4) / 27.0;
        if (m >= min_log_mel) return min_log_hz * std::exp(logstep * (m - min_log_mel));
        return f_sp * m;
    }
    }
}

inline double resolve_fmax(int sr, double f_max) {
    if (f_max == 0.0) return sr / 2.0;
    if (f_max < 0.0) return sr / 2.0 + f_max;
    return f_max;
}

// The n_mels + 2 band edges in Hz (for HTK/Slaney the points are linear in that scale's mel).
inline Vec mel_edges_hz(afx_mel_scale s, int n_mels, double fmin, double fmax) {
    const double m0 = hz_to_mel(s, fmin), m1 = hz_to_mel(s, fmax);
    Vec e((size_t)n_mels + 2);
    for (int i = 0; i < n_mels + 2; i++) e[(size_t)i] = mel_to_hz(s, m0 + (m1 - m0) * i / (n_mels + 1));
    return e;
}

// [mel][bin], bins 0 .. n_fft/2 at frequencies k*sr/n_fft.
inline Mat mel_fb(afx_mel_scale s, afx_mel_norm norm, int sr, int n_fft, int n_mels, double fmin, double fmax_param) {
    const double fmax = resolve_fmax(sr, fmax_param);
    const int nb = n_fft / 2 + 1;
    Mat fb((size_t)n_mels, Vec((size_t)nb, 0.0));
    if (s == AFX_MEL_KALDI) {
        // Kaldi MelBanks: triangles in the mel domain, bins i < n_fft/2 only.
        const double ml = hz_to_mel(s, fmin), mh = hz_to_mel(s, fmax), d = (mh - ml) / (n_mels + 1);
        for (int b = 0; b < n_mels; b++) {
            const double l = ml + b * d, cmel = ml + (b + 1) * d, r = ml + (b + 2) * d;
            for (int i = 0; i < n_fft / 2; i++) {
                const double mel = hz_to_mel(s, (double)sr / n_fft * i);
                if (mel > l && mel <= cmel) fb[(size_t)b][(size_t)i] = (mel - l) / (cmel - l);
                else if (mel > cmel && mel < r) fb[(size_t)b][(size_t)i] = (r - mel) / (r - cmel);
            }
            if (norm == AFX_MEL_NORM_SLANEY) {
                const double en = 2.0 / (mel_to_hz(s, r) - mel_to_hz(s, l));
                for (double &v : fb[(size_t)b]) v *= en;
            }
        }
        return fb;
    }
    // torchaudio melscale_fbanks / librosa filters.mel: triangles in Hz.
    const Vec f = mel_edges_hz(s, n_mels, fmin, fmax);
    for (int b = 0; b < n_mels; b++) {
        for (int k = 0; k < nb; k++) {
            const double fk = (double)k * sr / n_fft;
            const double down = (fk - f[(size_t)b]) / (f[(size_t)b + 1] - f[(size_t)b]);
            const double up = (f[(size_t)b + 2] - fk) / (f[(size_t)b + 2] - f[(size_t)b + 1]);
            fb[(size_t)b][(size_t)k] = std::max(0.0, std::min(down, up));
        }
        if (norm == AFX_MEL_NORM_SLANEY) {
            const double en = 2.0 / (f[(size_t)b + 2] - f[(size_t)b]);
            for (double &v : fb[(size_t)b]) v *= en;
        }
    }
    return fb;
}

inline bool fb_has_empty_filter(const Mat &fb) {
    for (const Vec &r : fb) {
        bool nz = false;
        for (double v : r) nz = nz || v > 0.0;
        if (!nz) return true;
    }
    return false;
}

inline Mat apply_fb(const Mat &spec, const Mat &fb) {
    Mat out;
    for (const Vec &fr : spec) {
        Vec m(fb.size(), 0.0);
        for (size_t b = 0; b < fb.size(); b++)
            for (size_t k = 0; k < fr.size(); k++) m[b] += fb[b][k] * fr[k];
        out.push_back(m);
    }
    return out;
}

// ------------------------------------------------------------------------------------------------
// Log, dB, DCT
// ------------------------------------------------------------------------------------------------
inline Mat log_of(const Mat &m, afx_log_type base, double offset, double floor_) {
    Mat o = m;
    for (Vec &r : o)
        for (double &v : r) {
            const double a = std::max(v + offset, floor_);
            v = base == AFX_LOG_LOG10 ? std::log10(a) : std::log(a);
        }
    return o;
}

// dB of one clip's valid frames, with the per-clip top_db floor.
inline Mat db_of(const Mat &m, double mult, double amin, double refv, double top_db) {
    Mat o = m;
    double mx = -INFINITY;
    for (Vec &r : o)
        for (double &v : r) {
            v = mult * std::log10(std::max(v, amin)) - mult * std::log10(std::max(amin, refv));
            mx = std::max(mx, v);
        }
    if (top_db >= 0)
        for (Vec &r : o)
            for (double &v : r) v = std::max(v, mx - top_db);
    return o;
}

// Orthonormal DCT-II, [n_out][n_in].
inline Mat dct_ortho(int n_out, int n_in) {
    Mat d((size_t)n_out, Vec((size_t)n_in));
    for (int k = 0; k < n_out; k++)
        for (int n = 0; n < n_in; n++)
            d[(size_t)k][(size_t)n] = std::cos(kPi / n_in * (n + 0.5) * k) *
                                      (k == 0 ? std::sqrt(1.0 / n_in) : std::sqrt(2.0 / n_in));
    return d;
}

inline Mat matmul_rows(const Mat &x, const Mat &d) {
    Mat out;
    for (const Vec &r : x) {
        Vec o(d.size(), 0.0);
        for (size_t k = 0; k < d.size(); k++)
            for (size_t n = 0; n < r.size(); n++) o[k] += d[k][n] * r[n];
        out.push_back(o);
    }
    return out;
}

// Full per-clip feature oracle (no dither, normalization, masks or pooling): [frame][feature].
inline Mat features(const afx_params &p, const Vec &x) {
    const Cfg c = resolve(p);
    FrameInfo info;
    Mat spec = spectrogram(c, x, &info);
    if (p.feature == AFX_FEATURE_SPECTROGRAM) return spec;
    const Mat fb = mel_fb(p.mel_scale, p.mel_norm, c.sr, c.n_fft, p.n_mels, p.f_min, p.f_max);
    Mat mel = apply_fb(spec, fb);
    switch (p.feature) {
    case AFX_FEATURE_MEL: return mel;
    case AFX_FEATURE_LOGMEL: return log_of(mel, p.log_base, p.log_offset, p.log_floor);
    case AFX_FEATURE_DB: return db_of(mel, p.db_multiplier, p.db_amin, p.db_ref, p.top_db);
    default: break;
    }
    Mat lm = p.mfcc_log == AFX_LOG_DB ? db_of(mel, p.db_multiplier, p.db_amin, p.db_ref, p.top_db)
                                      : log_of(mel, p.mfcc_log, p.log_offset, p.log_floor);
    Mat cc = matmul_rows(lm, dct_ortho(p.n_mfcc, p.n_mels));
    if (p.cepstral_lifter != 0.0f)
        for (Vec &r : cc)
            for (size_t i = 0; i < r.size(); i++)
                r[i] *= 1.0 + 0.5 * p.cepstral_lifter * std::sin(kPi * (double)i / p.cepstral_lifter);
    if (p.mfcc_energy) {
        for (size_t t = 0; t < cc.size(); t++) {
            const double e = p.raw_energy ? info.raw_energy[t] : info.windowed_energy[t];
            double le = std::log(std::max(e, (double)FLT_EPSILON));
            if (p.energy_floor > 0.0f) le = std::max(le, std::log((double)p.energy_floor));
            cc[t][0] = le;
        }
    }
    return cc;
}

// ------------------------------------------------------------------------------------------------
// API helpers
// ------------------------------------------------------------------------------------------------
struct PlanDel {
    void operator()(afx_plan *p) const { afx_plan_free(p); }
};
using PlanPtr = std::unique_ptr<afx_plan, PlanDel>;

inline PlanPtr make_plan(const afx_params &p) {
    afx_plan *pl = nullptr;
    char err[AFX_ERROR_MAX] = {0};
    const afx_status st = afx_plan_create(&p, &pl, err, sizeof err);
    EXPECT_EQ(st, AFX_OK) << afx_status_name(st) << ": " << err;
    return PlanPtr(pl);
}

constexpr float kSentinel = 12345.0f;

struct Result {
    afx_status st = AFX_ERR_INTERNAL;
    std::vector<float> out;
    std::vector<int64_t> nf;
    int64_t stride = 0;
    int nfeat = 0;
    std::string err;
    afx_layout layout = AFX_LAYOUT_FT;
    afx_pooling pooling = AFX_POOL_NONE;

    // Element (frame t, feature f) of clip c (unpooled output).
    float at(int c, int64_t t, int f) const {
        const size_t base = (size_t)c * (size_t)nfeat * (size_t)stride;
        if (layout == AFX_LAYOUT_FT) return out[base + (size_t)f * (size_t)stride + (size_t)t];
        return out[base + (size_t)t * (size_t)nfeat + (size_t)f];
    }
    // Clip c's valid frames as [frame][feature] in double.
    Mat clip(int c) const {
        Mat m;
        for (int64_t t = 0; t < nf[(size_t)c]; t++) {
            Vec r((size_t)nfeat);
            for (int f = 0; f < nfeat; f++) r[(size_t)f] = at(c, t, f);
            m.push_back(r);
        }
        return m;
    }
};

// Runs one batch through a fresh plan. max_batch/max_samples are taken from p as given.
// `stride_extra` adds spare frames to the stride (to check that padding is zeroed).
inline Result run_plan(afx_plan *plan, const std::vector<const void *> &ptrs, const std::vector<int64_t> &lens,
                       afx_sample_format fmt, int channels, uint64_t first, int64_t stride_extra = 0) {
    Result r;
    const afx_params *pp = afx_plan_params(plan);
    r.layout = pp->layout;
    r.pooling = pp->pooling;
    r.nfeat = afx_plan_n_features(plan);
    afx_input in;
    std::memset(&in, 0, sizeof in);
    in.format = fmt;
    in.n_channels = channels;
    in.clips = ptrs.data();
    in.lengths = lens.data();
    in.n_clips = (int)lens.size();
    in.first_clip_index = first;
    int64_t maxf = -7;
    afx_status st = afx_plan_output_shape(plan, &in, nullptr, &maxf);
    EXPECT_EQ(st, AFX_OK) << afx_plan_error(plan);
    if (st != AFX_OK) {
        r.st = st;
        return r;
    }
    r.stride = maxf + stride_extra;
    r.out.assign(afx_plan_output_size(plan, in.n_clips, r.stride), kSentinel);
    r.out.reserve(1);  // keep data() non-NULL when the batch has no frames at all
    r.nf.assign(lens.size(), -7);
    afx_output o;
    o.data = r.out.data();
    o.frames_stride = r.stride;
    o.n_frames = r.nf.data();
    r.st = afx_plan_execute(plan, &in, &o);
    r.err = afx_plan_error(plan);
    return r;
}

inline Result run(const afx_params &p, const std::vector<std::vector<float>> &clips, uint64_t first = 0,
                  int64_t stride_extra = 0) {
    PlanPtr plan = make_plan(p);
    if (!plan) return Result();
    std::vector<const void *> ptrs;
    std::vector<int64_t> lens;
    for (const auto &c : clips) {
        ptrs.push_back(c.empty() ? nullptr : (const void *)c.data());
        lens.push_back((int64_t)c.size());
    }
    return run_plan(plan.get(), ptrs, lens, AFX_SAMPLE_F32, 1, first, stride_extra);
}

// ||a - b||_2 / ||b||_2 (or ||a - b|| when b is all zero).
inline double rel_l2(const Mat &a, const Mat &b) {
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size() && i < b.size(); i++)
        for (size_t j = 0; j < a[i].size() && j < b[i].size(); j++) {
            num += (a[i][j] - b[i][j]) * (a[i][j] - b[i][j]);
            den += b[i][j] * b[i][j];
        }
    return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

inline double max_abs_diff(const Mat &a, const Mat &b) {
    double m = 0;
    for (size_t i = 0; i < a.size() && i < b.size(); i++)
        for (size_t j = 0; j < a[i].size() && j < b[i].size(); j++) m = std::max(m, std::fabs(a[i][j] - b[i][j]));
    return m;
}

// Shape check then relative-L2 check of a clip against an oracle [frame][feature].
inline void expect_clip_close(const Result &r, int c, const Mat &want, double tol) {
    ASSERT_EQ(r.nf[(size_t)c], (int64_t)want.size()) << "frame count of clip " << c;
    const Mat got = r.clip(c);
    if (!want.empty()) {
        ASSERT_EQ((size_t)r.nfeat, want[0].size()) << "feature count";
    }
    const double e = rel_l2(got, want);
    EXPECT_LE(e, tol) << "clip " << c << " rel L2 error " << e << " (frames " << want.size() << ")";
}

// Every element of clip c past its valid frames (up to the stride) is exactly 0.
inline void expect_padding_zero(const Result &r, int c) {
    int bad = 0;
    for (int64_t t = std::max<int64_t>(r.nf[(size_t)c], 0); t < r.stride; t++)
        for (int f = 0; f < r.nfeat; f++)
            if (r.at(c, t, f) != 0.0f) bad++;
    EXPECT_EQ(bad, 0) << "non-zero padded elements in clip " << c;
}

inline afx_params base_params() {
    afx_params p;
    afx_params_init(&p);
    p.max_batch = 8;
    p.max_samples = 64000;
    return p;
}

}  // namespace ref

#endif  // AFX_TESTS_REF_H
