// MEL / LOGMEL / DB vs float64 filterbanks re-derived from torchaudio (HTK), librosa (Slaney) and
// Kaldi (MelBanks) applied to a float64 power spectrum; pure-tone peak; per-clip top_db.
#include "ref.h"

namespace {

struct MelCase {
    afx_mel_scale scale;
    afx_mel_norm norm;
    int sr, n_fft, n_mels;
    float f_min, f_max;
};

void PrintTo(const MelCase &m, std::ostream *os) {
    *os << "scale " << m.scale << " norm " << m.norm << " sr " << m.sr << " n_fft " << m.n_fft << " n_mels " << m.n_mels
        << " f " << m.f_min << ".." << m.f_max;
}

class MelFilterbank : public ::testing::TestWithParam<MelCase> {};

TEST_P(MelFilterbank, MatchesReferenceThroughApi) {
    const MelCase &m = GetParam();
    const uint64_t seed = 1000 + (uint64_t)m.scale * 10 + (uint64_t)m.norm;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    afx_params p = ref::base_params();
    p.feature = AFX_FEATURE_MEL;
    p.sample_rate = m.sr;
    p.n_fft = m.n_fft;
    p.win_length = 0;
    p.hop_length = m.n_fft / 2;
    p.n_mels = m.n_mels;
    p.f_min = m.f_min;
    p.f_max = m.f_max;
    p.mel_scale = m.scale;
    p.mel_norm = m.norm;
    const ref::Cfg c = ref::resolve(p);
    const ref::Mat fb = ref::mel_fb(m.scale, m.norm, m.sr, c.n_fft, m.n_mels, m.f_min, m.f_max);
    ASSERT_FALSE(ref::fb_has_empty_filter(fb)) << "test case has an empty filter";
    std::vector<std::vector<float>> clips = {ref::uniform_noise(6 * m.n_fft + 17, seed),
                                             ref::uniform_noise(m.n_fft / 2 + 3, seed + 1)};
    ASSERT_TRUE(ref::any_nonzero(clips[0]));
    // Add a chirp so the spectrum is not flat.
    for (size_t i = 0; i < clips[0].size(); i++)
        clips[0][i] += (float)(0.5 * std::sin(2 * ref::kPi * (50.0 + 0.5 * (double)i) * (double)i / m.sr));
    ref::Result r = ref::run(p, clips);
    ASSERT_EQ(r.st, AFX_OK) << r.err;
    ASSERT_EQ(r.nfeat, m.n_mels);
    for (int k = 0; k < 2; k++) {
        const ref::Mat want = ref::apply_fb(ref::spectrogram(c, ref::to_double(clips[(size_t)k])), fb);
        ref::expect_clip_close(r, k, want, 1e-5);
        ref::expect_padding_zero(r, k);
    }
}

const MelCase kMelCases[] = {
    {AFX_MEL_HTK, AFX_MEL_NORM_NONE, 16000, 512, 80, 0.0f, 0.0f},
    {AFX_MEL_HTK, AFX_MEL_NORM_NONE, 16000, 400, 40, 125.0f, 7600.0f},
    {AFX_MEL_HTK, AFX_MEL_NORM_SLANEY, 16000, 512, 64, 60.0f, -1000.0f},
    {AFX_MEL_SLANEY, AFX_MEL_NORM_NONE, 22050, 1024, 128, 0.0f, 0.0f},
    {AFX_MEL_SLANEY, AFX_MEL_NORM_SLANEY, 22050, 1024, 128, 0.0f, 0.0f},
    {AFX_MEL_SLANEY, AFX_MEL_NORM_SLANEY, 16000, 512, 40, 300.0f, 5000.0f},
    {AFX_MEL_KALDI, AFX_MEL_NORM_NONE, 16000, 512, 23, 20.0f, 0.0f},
    {AFX_MEL_KALDI, AFX_MEL_NORM_NONE, 16000, 512, 80, 20.0f, -400.0f},
    {AFX_MEL_KALDI, AFX_MEL_NORM_NONE, 8000, 256, 15, 64.0f, 3800.0f},
};

INSTANTIATE_TEST_SUITE_P(Mel, MelFilterbank, ::testing::ValuesIn(kMelCases));

// f_max 0 means Nyquist and a negative f_max means Nyquist + f_max.
TEST(MelFmax, ZeroAndNegative) {
    const uint64_t seed = 515;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    const std::vector<float> x = ref::uniform_noise(4000, seed);
    for (afx_mel_scale s : {AFX_MEL_HTK, AFX_MEL_SLANEY, AFX_MEL_KALDI}) {
        SCOPED_TRACE(testing::Message() << "scale " << s);
        afx_params p = ref::base_params();
        p.feature = AFX_FEATURE_MEL;
        p.mel_scale = s;
        p.n_mels = 40;
        p.f_max = 0.0f;
        ref::Result a = ref::run(p, {x});
        p.f_max = 8000.0f;
        ref::Result b = ref::run(p, {x});
        p.f_max = -500.0f;
        ref::Result c = ref::run(p, {x});
        p.f_max = 7500.0f;
        ref::Result d = ref::run(p, {x});
        ASSERT_EQ(a.st, AFX_OK) << a.err;
        ASSERT_EQ(b.st, AFX_OK) << b.err;
        ASSERT_EQ(c.st, AFX_OK) << c.err;
        ASSERT_EQ(d.st, AFX_OK) << d.err;
        EXPECT_LE(ref::rel_l2(a.clip(0), b.clip(0)), 1e-6);
        EXPECT_LE(ref::rel_l2(c.clip(0), d.clip(0)), 1e-6);
        EXPECT_GT(ref::rel_l2(a.clip(0), c.clip(0)), 1e-3) << "f_max had no effect";
    }
}

// A pure tone at the centre of filter m peaks in filter m.
TEST(MelAnalytic, ToneLandsInNearestFilter) {
    const int sr = 16000, n_fft = 2048, n_mels = 40;
    for (afx_mel_scale s : {AFX_MEL_HTK, AFX_MEL_SLANEY, AFX_MEL_KALDI}) {
        const ref::Vec edges = ref::mel_edges_hz(s, n_mels, 0.0, sr / 2.0);
        for (int m : {6, 20, 33}) {
            SCOPED_TRACE(testing::Message() << "scale " << s << " filter " << m);
            const double f0 = edges[(size_t)m + 1];
            afx_params p = ref::base_params();
            p.feature = AFX_FEATURE_MEL;
            p.n_fft = n_fft;
            p.win_length = 0;
            p.hop_length = 512;
            p.n_mels = n_mels;
            p.mel_scale = s;
            ref::Result r = ref::run(p, {ref::sine(8192, f0, sr, 0.5)});
            ASSERT_EQ(r.st, AFX_OK) << r.err;
            ref::Vec mean((size_t)n_mels, 0.0);
            for (int64_t t = 0; t < r.nf[0]; t++)
                for (int b = 0; b < n_mels; b++) mean[(size_t)b] += r.at(0, t, b);
            const int arg = (int)(std::max_element(mean.begin(), mean.end()) - mean.begin());
            EXPECT_EQ(arg, m) << "tone " << f0 << " Hz";
        }
    }
}

// ------------------------------------------------------------------------------------------------
// LOGMEL
// ------------------------------------------------------------------------------------------------
TEST(MelLog, LnAndLog10WithOffsetAndFloor) {
    const uint64_t seed = 4711;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    std::vector<std::vector<float>> clips = {ref::uniform_noise(5000, seed, 0.5), ref::uniform_noise(4000, seed + 1, 1e-4),
                                             std::vector<float>(3000, 0.0f), ref::uniform_noise(700, seed + 2)};
    ASSERT_TRUE(ref::any_nonzero(clips[0]));
    struct L {
        afx_log_type base;
        float offset, floor_;
    } cases[] = {{AFX_LOG_LN, 0.0f, 1e-10f}, {AFX_LOG_LOG10, 0.0f, 1e-10f}, {AFX_LOG_LN, 1e-6f, 1e-10f},
                 {AFX_LOG_LOG10, 1e-3f, 1e-10f}, {AFX_LOG_LN, 0.0f, 1e-4f}, {AFX_LOG_LOG10, 0.5f, 1.0f}};
    for (const L &l : cases) {
        SCOPED_TRACE(testing::Message() << "base " << l.base << " offset " << l.offset << " floor " << l.floor_);
        afx_params p = ref::base_params();
        p.feature = AFX_FEATURE_LOGMEL;
        p.n_mels = 64;
        p.log_base = l.base;
        p.log_offset = l.offset;
        p.log_floor = l.floor_;
        ref::Result r = ref::run(p, clips);
        ASSERT_EQ(r.st, AFX_OK) << r.err;
        const ref::Cfg c = ref::resolve(p);
        const ref::Mat fb = ref::mel_fb(p.mel_scale, p.mel_norm, c.sr, c.n_fft, p.n_mels, p.f_min, p.f_max);
        for (int k = 0; k < (int)clips.size(); k++) {
            SCOPED_TRACE(testing::Message() << "clip " << k);
            const ref::Mat want = ref::log_of(ref::apply_fb(ref::spectrogram(c, ref::to_double(clips[(size_t)k])), fb),
                                              l.base, l.offset, l.floor_);
            ASSERT_EQ(r.nf[(size_t)k], (int64_t)want.size());
            EXPECT_LE(ref::max_abs_diff(r.clip(k), want), 1e-4);
            ref::expect_padding_zero(r, k);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// DB: per-clip top_db over valid frames only
// ------------------------------------------------------------------------------------------------
std::vector<float> half_silent(int64_t n, uint64_t seed, double amp) {
    std::vector<float> x = ref::uniform_noise(n, seed, amp);
    for (int64_t i = n / 2; i < n; i++) x[(size_t)i] = 0.0f;
    return x;
}

TEST(MelDb, PerClipTopDbRaggedBatch) {
    const uint64_t seed = 9001;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    // Loud clip (positive dB), quiet clip (all negative dB), short quiet clip (padded frames).
    std::vector<std::vector<float>> clips = {half_silent(16000, seed, 0.5), half_silent(12000, seed + 1, 1e-3),
                                             ref::uniform_noise(1600, seed + 2, 1e-3)};
    for (auto &c : clips) ASSERT_TRUE(ref::any_nonzero(c));
    struct D {
        float power, mult, refv, amin, top_db;
    } cases[] = {{2.0f, 10.0f, 1.0f, 1e-10f, 30.0f},
                 {2.0f, 10.0f, 1.0f, 1e-10f, 80.0f},
                 {2.0f, 10.0f, 0.01f, 1e-6f, 25.0f},
                 {1.0f, 20.0f, 1.0f, 1e-5f, 40.0f},
                 {2.0f, 10.0f, 1.0f, 1e-10f, -1.0f}};
    for (const D &d : cases) {
        SCOPED_TRACE(testing::Message() << "power " << d.power << " mult " << d.mult << " ref " << d.refv << " amin "
                                        << d.amin << " top_db " << d.top_db);
        afx_params p = ref::base_params();
        p.feature = AFX_FEATURE_DB;
        p.power = d.power;
        p.db_multiplier = d.mult;
        p.db_ref = d.refv;
        p.db_amin = d.amin;
        p.top_db = d.top_db;
        ref::Result r = ref::run(p, clips, 0, 3);
        ASSERT_EQ(r.st, AFX_OK) << r.err;
        const ref::Cfg c = ref::resolve(p);
        const ref::Mat fb = ref::mel_fb(p.mel_scale, p.mel_norm, c.sr, c.n_fft, p.n_mels, p.f_min, p.f_max);
        for (int k = 0; k < 3; k++) {
            SCOPED_TRACE(testing::Message() << "clip " << k);
            const ref::Mat want =
                ref::db_of(ref::apply_fb(ref::spectrogram(c, ref::to_double(clips[(size_t)k])), fb), d.mult, d.amin,
                           d.refv, d.top_db);
            ASSERT_EQ(r.nf[(size_t)k], (int64_t)want.size());
            const ref::Mat got = r.clip(k);
            EXPECT_LE(ref::max_abs_diff(got, want), 2e-3);
            ref::expect_padding_zero(r, k);
            if (d.top_db >= 0) {
                double mx = -INFINITY, mn = INFINITY;
                for (const auto &row : got)
                    for (double v : row) {
                        mx = std::max(mx, v);
                        mn = std::min(mn, v);
                    }
                EXPECT_GE(mn, mx - d.top_db - 2e-3) << "values below this clip's max - top_db";
            }
        }
    }
}

}  // namespace
