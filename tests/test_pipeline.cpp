// Batches, layouts, normalization, pooling and SpecAugment masks.
#include <set>

#include "ref.h"

namespace {

const std::vector<int64_t> kRagged = {16000, 3, 0, 12345, 400};

std::vector<std::vector<float>> ragged_clips(uint64_t seed) {
    std::vector<std::vector<float>> clips;
    for (size_t i = 0; i < kRagged.size(); i++) clips.push_back(ref::uniform_noise(kRagged[i], seed + i));
    return clips;
}

afx_params pipe_params(afx_feature f) {
    afx_params p = ref::base_params();
    p.feature = f;
    p.n_mels = 40;
    p.n_mfcc = 13;
    return p;
}

// Each clip of a ragged batch equals the same clip run alone (with its global index), for every
// feature and both layouts; padded frames are 0; TF is the transpose of FT; values match the oracle.
TEST(PipelineBatch, RaggedEqualsAloneEveryFeatureAndLayout) {
    const uint64_t seed = 777000;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    const auto clips = ragged_clips(seed);
    ASSERT_TRUE(ref::any_nonzero(clips[0]));
    const uint64_t first = 40;
    for (int f = AFX_FEATURE_SPECTROGRAM; f <= AFX_FEATURE_MFCC; f++)
        for (afx_pad_mode pad : {AFX_PAD_CONSTANT, AFX_PAD_REFLECT}) {
            SCOPED_TRACE(testing::Message() << "feature " << f << " pad " << pad);
            afx_params p = pipe_params((afx_feature)f);
            p.pad_mode = pad;
            ref::Result ft, tf;
            for (afx_layout lay : {AFX_LAYOUT_FT, AFX_LAYOUT_TF}) {
                SCOPED_TRACE(testing::Message() << "layout " << lay);
                p.layout = lay;
                ref::Result b = ref::run(p, clips, first, 5);
                ASSERT_EQ(b.st, AFX_OK) << b.err;
                for (int j = 0; j < (int)clips.size(); j++) {
                    SCOPED_TRACE(testing::Message() << "clip " << j << " length " << kRagged[(size_t)j]);
                    ref::Result a = ref::run(p, {clips[(size_t)j]}, first + (uint64_t)j);
                    ASSERT_EQ(a.st, AFX_OK) << a.err;
                    ASSERT_EQ(b.nf[(size_t)j], a.nf[0]);
                    EXPECT_LE(ref::rel_l2(b.clip(j), a.clip(0)), 1e-6) << "batch result differs from solo run";
                    ref::expect_padding_zero(b, j);
                    ref::expect_padding_zero(a, 0);
                    if (pad == AFX_PAD_CONSTANT && lay == AFX_LAYOUT_FT)
                        ref::expect_clip_close(b, j, ref::features(p, ref::to_double(clips[(size_t)j])), 1e-5);
                }
                (lay == AFX_LAYOUT_FT ? ft : tf) = b;
            }
            ASSERT_EQ(ft.out.size(), tf.out.size());
            ASSERT_EQ(ft.stride, tf.stride);
            int bad = 0;
            for (int c = 0; c < (int)clips.size(); c++)
                for (int64_t t = 0; t < ft.stride; t++)
                    for (int k = 0; k < ft.nfeat; k++) {
                        const size_t base = (size_t)c * (size_t)ft.nfeat * (size_t)ft.stride;
                        const float a = ft.out[base + (size_t)k * (size_t)ft.stride + (size_t)t];
                        const float bb = tf.out[base + (size_t)t * (size_t)ft.nfeat + (size_t)k];
                        bad += std::fabs(a - bb) > 1e-6f * (1.0f + std::fabs(a));
                    }
            EXPECT_EQ(bad, 0) << "TF is not the transpose of FT";
        }
}

// ------------------------------------------------------------------------------------------------
// Normalization (against float64 statistics of the library's own un-normalized output)
// ------------------------------------------------------------------------------------------------
ref::Mat normalize_ref(const ref::Mat &x, afx_normalize mode, bool vars, double eps, bool unbiased = false) {
    ref::Mat o = x;
    if (x.empty()) return o;
    const size_t T = x.size(), F = x[0].size();
    if (mode == AFX_NORM_UTTERANCE) {
        double m = 0, v = 0;
        for (auto &r : x)
            for (double e : r) m += e;
        m /= (double)(T * F);
        for (auto &r : x)
            for (double e : r) v += (e - m) * (e - m);
        v = unbiased ? (T * F > 1 ? v / (double)(T * F - 1) : 0.0) : v / (double)(T * F);
        for (auto &r : o)
            for (double &e : r) e = vars ? (e - m) / std::sqrt(v + eps) : e - m;
    } else if (mode == AFX_NORM_FEATURE) {
        for (size_t f = 0; f < F; f++) {
            double m = 0, v = 0;
            for (size_t t = 0; t < T; t++) m += x[t][f];
            m /= (double)T;
            for (size_t t = 0; t < T; t++) v += (x[t][f] - m) * (x[t][f] - m);
            v = unbiased ? (T > 1 ? v / (double)(T - 1) : 0.0) : v / (double)T;
            for (size_t t = 0; t < T; t++) o[t][f] = vars ? (x[t][f] - m) / std::sqrt(v + eps) : x[t][f] - m;
        }
    } else if (mode == AFX_NORM_MINMAX) {
        double mn = INFINITY, mx = -INFINITY;
        for (auto &r : x)
            for (double e : r) {
                mn = std::min(mn, e);
                mx = std::max(mx, e);
            }
        for (auto &r : o)
            for (double &e : r) e = mx > mn ? (e - mn) / (mx - mn) : 0.0;
    }
    return o;
}

// norm_unbiased: torch.std's default (n - 1) instead of the population variance; checked against the
// float64 statistics and shown to differ from the population result on a short clip.
TEST(PipelineNormalize, UnbiasedVarianceAsTorchStd) {
    std::vector<std::vector<float>> clips = {ref::uniform_noise(4000, 77, 0.5), ref::uniform_noise(480, 78, 0.3)};
    for (afx_normalize mode : {AFX_NORM_UTTERANCE, AFX_NORM_FEATURE}) {
        afx_params p = pipe_params(AFX_FEATURE_LOGMEL);
        p.layout = AFX_LAYOUT_TF;
        ref::Result raw = ref::run(p, clips);
        p.normalize = mode;
        p.norm_unbiased = 1;
        ref::Result r = ref::run(p, clips);
        p.norm_unbiased = 0;
        ref::Result pop = ref::run(p, clips);
        ASSERT_EQ(r.st, AFX_OK) << r.err;
        for (int c = 0; c < 2; c++) {
            const ref::Mat want = normalize_ref(raw.clip(c), mode, true, p.norm_eps, true);
            double scale = 1.0;
            for (auto &row : want)
                for (double v : row) scale = std::max(scale, std::fabs(v));
            EXPECT_LE(ref::max_abs_diff(r.clip(c), want), 1e-4 * scale) << "mode " << mode << " clip " << c;
            EXPECT_GT(ref::max_abs_diff(r.clip(c), pop.clip(c)), 1e-4) << "n-1 and n must differ on a short clip";
        }
    }
}

TEST(PipelineNormalize, AgainstFloat64Statistics) {
    const uint64_t seed = 4040;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    std::vector<std::vector<float>> clips = {ref::uniform_noise(9000, seed, 0.5), ref::uniform_noise(3, seed + 1),
                                             ref::uniform_noise(2500, seed + 2, 0.01), {}};
    for (size_t i = 0; i < 3000; i++) clips[0][i] *= 0.01f;  // non-stationary loudness
    for (afx_feature feat : {AFX_FEATURE_LOGMEL, AFX_FEATURE_MFCC})
        for (afx_normalize mode : {AFX_NORM_UTTERANCE, AFX_NORM_FEATURE, AFX_NORM_MINMAX})
            for (int vars = 0; vars <= 1; vars++)
                for (float eps : {1e-10f, 0.5f}) {
                    if (mode == AFX_NORM_MINMAX && (vars == 0 || eps != 1e-10f)) continue;
                    SCOPED_TRACE(testing::Message() << "feature " << feat << " mode " << mode << " vars " << vars << " eps " << eps);
                    afx_params p = pipe_params(feat);
                    p.pad_mode = AFX_PAD_CONSTANT;
                    p.layout = AFX_LAYOUT_TF;
                    ref::Result raw = ref::run(p, clips, 0, 2);
                    p.normalize = mode;
                    p.norm_vars = vars;
                    p.norm_eps = eps;
                    ref::Result r = ref::run(p, clips, 0, 2);
                    ASSERT_EQ(raw.st, AFX_OK) << raw.err;
                    ASSERT_EQ(r.st, AFX_OK) << r.err;
                    for (int c = 0; c < (int)clips.size(); c++) {
                        SCOPED_TRACE(testing::Message() << "clip " << c);
                        ASSERT_EQ(r.nf[(size_t)c], raw.nf[(size_t)c]);
                        const ref::Mat want = normalize_ref(raw.clip(c), mode, vars != 0, eps);
                        double scale = 1.0;
                        for (auto &row : want)
                            for (double v : row) scale = std::max(scale, std::fabs(v));
                        EXPECT_LE(ref::max_abs_diff(r.clip(c), want), 1e-4 * scale);
                        ref::expect_padding_zero(r, c);
                    }
                }
}

// ------------------------------------------------------------------------------------------------
// Pooling
// ------------------------------------------------------------------------------------------------
TEST(PipelinePooling, MeanAndStdOverValidFrames) {
    const uint64_t seed = 5050;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    std::vector<std::vector<float>> clips = {ref::uniform_noise(9000, seed, 0.5), ref::uniform_noise(400, seed + 1),
                                             ref::uniform_noise(5000, seed + 2, 0.01)};
    for (auto &c : clips) ASSERT_TRUE(ref::any_nonzero(c));
    for (afx_feature feat : {AFX_FEATURE_MEL, AFX_FEATURE_DB, AFX_FEATURE_MFCC})
        for (afx_pooling pool : {AFX_POOL_MEAN, AFX_POOL_MEAN_STD}) {
            SCOPED_TRACE(testing::Message() << "feature " << feat << " pooling " << pool);
            afx_params p = pipe_params(feat);
            ref::Result raw = ref::run(p, clips);
            ASSERT_EQ(raw.st, AFX_OK) << raw.err;
            p.pooling = pool;
            ref::PlanPtr pl = ref::make_plan(p);
            ASSERT_TRUE(pl);
            std::vector<const void *> ptrs;
            std::vector<int64_t> lens;
            for (auto &c : clips) {
                ptrs.push_back(c.data());
                lens.push_back((int64_t)c.size());
            }
            ref::Result r = ref::run_plan(pl.get(), ptrs, lens, AFX_SAMPLE_F32, 1, 0);
            ASSERT_EQ(r.st, AFX_OK) << r.err;
            const int F = raw.nfeat;
            const size_t per = (size_t)F * (pool == AFX_POOL_MEAN_STD ? 2 : 1);
            ASSERT_EQ(r.out.size(), per * clips.size());
            for (int c = 0; c < (int)clips.size(); c++) {
                SCOPED_TRACE(testing::Message() << "clip " << c);
                const ref::Mat x = raw.clip(c);
                ASSERT_FALSE(x.empty());
                double scale = 0;
                for (auto &row : x)
                    for (double v : row) scale = std::max(scale, std::fabs(v));
                for (int f = 0; f < F; f++) {
                    double m = 0, v = 0;
                    for (auto &row : x) m += row[(size_t)f];
                    m /= (double)x.size();
                    for (auto &row : x) v += (row[(size_t)f] - m) * (row[(size_t)f] - m);
                    v /= (double)x.size();
                    EXPECT_NEAR(r.out[(size_t)c * per + (size_t)f], m, 1e-5 * scale) << "mean of feature " << f;
                    if (pool == AFX_POOL_MEAN_STD) {
                        EXPECT_NEAR(r.out[(size_t)c * per + (size_t)F + (size_t)f], std::sqrt(v), 1e-4 * scale)
                            << "std of feature " << f;
                    }
                }
            }
        }
}

// ------------------------------------------------------------------------------------------------
// SpecAugment
// ------------------------------------------------------------------------------------------------
std::vector<int> runs_of(const std::vector<bool> &m) {
    std::vector<int> w;
    int cur = 0;
    for (bool b : m) {
        if (b) cur++;
        else if (cur) {
            w.push_back(cur);
            cur = 0;
        }
    }
    if (cur) w.push_back(cur);
    return w;
}

struct Masks {
    std::vector<bool> t, f;
    int stray = 0, bad_value = 0, masked = 0;
    bool operator==(const Masks &o) const { return t == o.t && f == o.f; }
};

// Masked elements are those that differ from the unmasked run; they must form whole frames and whole
// feature rows and hold `value` (or the clip mean).
Masks analyze(const ref::Mat &got, const ref::Mat &clean, afx_mask_value mv) {
    Masks m;
    const size_t T = clean.size(), F = clean.empty() ? 0 : clean[0].size();
    double mean = 0;
    for (auto &r : clean)
        for (double v : r) mean += v;
    mean /= (double)(T * F);
    std::vector<std::vector<bool>> mk(T, std::vector<bool>(F));
    for (size_t t = 0; t < T; t++)
        for (size_t f = 0; f < F; f++) {
            mk[t][f] = std::fabs(got[t][f] - clean[t][f]) > 1e-6 * std::fabs(clean[t][f]);
            if (mk[t][f]) {
                m.masked++;
                const double want = mv == AFX_MASK_ZERO ? 0.0 : mean;
                if (mv == AFX_MASK_ZERO ? got[t][f] != 0.0 : std::fabs(got[t][f] - want) > 1e-5 * std::fabs(want))
                    m.bad_value++;
            }
        }
    m.t.assign(T, false);
    m.f.assign(F, false);
    for (size_t t = 0; t < T; t++) {
        bool all = true;
        for (size_t f = 0; f < F; f++) all = all && mk[t][f];
        m.t[t] = all;
    }
    for (size_t f = 0; f < F; f++) {
        bool all = true;
        for (size_t t = 0; t < T; t++) all = all && mk[t][f];
        m.f[f] = all;
    }
    for (size_t t = 0; t < T; t++)
        for (size_t f = 0; f < F; f++) m.stray += mk[t][f] && !m.t[t] && !m.f[f];
    return m;
}

afx_params mask_params() {
    afx_params p = pipe_params(AFX_FEATURE_MEL);  // strictly positive: a 0 can only be a mask
    p.max_batch = 16;
    return p;
}

std::vector<std::vector<float>> mask_clips(uint64_t seed, int n, int64_t len) {
    std::vector<std::vector<float>> clips;
    for (int i = 0; i < n; i++) clips.push_back(ref::uniform_noise(len - 97 * i, seed + (uint64_t)i));
    return clips;
}

TEST(PipelineMask, ShapeWidthsAndValues) {
    const uint64_t seed = 6060;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    const auto clips = mask_clips(seed, 12, 16000);  // ~100 frames, 40 mel bands
    for (auto &c : clips) ASSERT_TRUE(ref::any_nonzero(c));
    const int T = 10, Fp = 8;
    afx_params p = mask_params();
    ref::Result clean = ref::run(p, clips, 0, 3);
    ASSERT_EQ(clean.st, AFX_OK) << clean.err;
    for (afx_mask_value mv : {AFX_MASK_ZERO, AFX_MASK_MEAN})
        for (int n : {1, 2}) {
            SCOPED_TRACE(testing::Message() << "mask_value " << mv << " n masks " << n);
            afx_params q = p;
            q.n_time_masks = n;
            q.time_mask_param = T;
            q.n_freq_masks = n;
            q.freq_mask_param = Fp;
            q.mask_value = mv;
            q.mask_seed = 99;
            ref::Result r = ref::run(q, clips, 0, 3);
            ASSERT_EQ(r.st, AFX_OK) << r.err;
            int any_t = 0, any_f = 0;
            std::vector<Masks> all;
            for (int c = 0; c < (int)clips.size(); c++) {
                SCOPED_TRACE(testing::Message() << "clip " << c);
                ASSERT_EQ(r.nf[(size_t)c], clean.nf[(size_t)c]);
                const Masks m = analyze(r.clip(c), clean.clip(c), mv);
                EXPECT_EQ(m.stray, 0) << "masked elements that are neither a whole frame nor a whole band";
                EXPECT_EQ(m.bad_value, 0) << "masked elements with the wrong value";
                const std::vector<int> tw = runs_of(m.t), fw = runs_of(m.f);
                EXPECT_LE((int)tw.size(), n);
                EXPECT_LE((int)fw.size(), n);
                int ts = 0, fs = 0;
                for (int w : tw) ts += w;
                for (int w : fw) fs += w;
                EXPECT_LE(ts, n * T);
                EXPECT_LE(fs, n * Fp);
                if (n == 1) {
                    for (int w : tw) EXPECT_LE(w, T);
                    for (int w : fw) EXPECT_LE(w, Fp);
                }
                any_t += ts > 0;
                any_f += fs > 0;
                ref::expect_padding_zero(r, c);
                all.push_back(m);
            }
            EXPECT_GT(any_t, 0) << "no time mask in any clip";
            EXPECT_GT(any_f, 0) << "no frequency mask in any clip";
            // Different clips of a batch get different masks.
            int distinct = 0;
            for (size_t i = 1; i < all.size(); i++) distinct += !(all[i] == all[0]);
            EXPECT_GT(distinct, 0) << "every clip got the same masks";
        }
}

TEST(PipelineMask, DeterministicAndKeyedByGlobalIndex) {
    const uint64_t seed = 7070;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    const auto clips = mask_clips(seed, 6, 12000);
    afx_params p = mask_params();
    p.n_time_masks = 2;
    p.time_mask_param = 12;
    p.n_freq_masks = 2;
    p.freq_mask_param = 10;
    p.mask_seed = 1234;
    const uint64_t first = 500;
    ref::Result a = ref::run(p, clips, first);
    ref::Result b = ref::run(p, clips, first);
    ASSERT_EQ(a.st, AFX_OK) << a.err;
    ASSERT_EQ(b.st, AFX_OK);
    EXPECT_EQ(a.out, b.out) << "same mask_seed and first_clip_index must give identical masks";
    // Each clip alone with first_clip_index = first + j gets the same masks as in the batch.
    for (int j = 0; j < (int)clips.size(); j++) {
        ref::Result s = ref::run(p, {clips[(size_t)j]}, first + (uint64_t)j);
        ASSERT_EQ(s.st, AFX_OK);
        ASSERT_EQ(s.nf[0], a.nf[(size_t)j]);
        EXPECT_LE(ref::max_abs_diff(s.clip(0), a.clip(j)), 0.0) << "clip " << j << " masks depend on the batch";
    }
    // A different seed or a shifted index changes the masks (of at least one clip).
    afx_params q = p;
    q.mask_seed = 1235;
    ref::Result c = ref::run(q, clips, first);
    ref::Result d = ref::run(p, clips, first + 1);
    ASSERT_EQ(c.st, AFX_OK);
    ASSERT_EQ(d.st, AFX_OK);
    EXPECT_NE(a.out, c.out) << "mask_seed has no effect";
    // Batch d's clip j has global index first + 1 + j: its masks must differ from a's clip j somewhere.
    int differ = 0;
    for (int j = 0; j < (int)clips.size(); j++) differ += ref::max_abs_diff(a.clip(j), d.clip(j)) > 0.0;
    EXPECT_GT(differ, 0) << "first_clip_index has no effect";
}

}  // namespace
