// SPECTROGRAM vs a float64 naive DFT of the frames built from the header's framing rules; analytic
// checks (on-bin sines, Parseval); input handling (int16, scale, channels, DC, pre-emphasis, dither).
#include <sstream>

#include "ref.h"

namespace {

constexpr double kTol = 1e-5;  // relative L2 per clip, float32 FFT vs float64 DFT

afx_params spec_params() {
    afx_params p = ref::base_params();
    p.feature = AFX_FEATURE_SPECTROGRAM;
    return p;
}

// Runs all lengths as one batch and checks every clip against the oracle and its padding.
void check_lengths(const afx_params &p, const std::vector<int64_t> &lengths, uint64_t seed, double tol = kTol) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    std::vector<std::vector<float>> clips;
    for (size_t i = 0; i < lengths.size(); i++) {
        clips.push_back(ref::uniform_noise(lengths[i], seed + i));
        if (lengths[i] > 1) {
            ASSERT_TRUE(ref::any_nonzero(clips.back()));
        }
    }
    afx_params q = p;
    q.max_batch = (int)lengths.size();
    q.max_samples = 1;
    for (int64_t n : lengths) q.max_samples = std::max<int64_t>(q.max_samples, n);
    ref::Result r = ref::run(q, clips, 0, 2);
    ASSERT_EQ(r.st, AFX_OK) << r.err;
    const ref::Cfg c = ref::resolve(q);
    ASSERT_EQ(r.nfeat, c.n_fft / 2 + 1);
    for (size_t i = 0; i < clips.size(); i++) {
        SCOPED_TRACE(testing::Message() << "length " << lengths[i]);
        ref::expect_clip_close(r, (int)i, ref::spectrogram(c, ref::to_double(clips[i])), tol);
        ref::expect_padding_zero(r, (int)i);
    }
}

TEST(StftOracle, CenterReflectDefault) {
    check_lengths(spec_params(), {257, 400, 401, 512, 1000, 7919, 48000}, 11);
}

TEST(StftOracle, CenterConstantShortClips) {
    afx_params p = spec_params();
    p.pad_mode = AFX_PAD_CONSTANT;
    check_lengths(p, {0, 1, 3, 100, 400, 512, 7919}, 21);
}

TEST(StftOracle, SnipEdgesKaldi) {
    afx_params p = spec_params();
    p.center = 0;
    p.snip_edges = 1;
    check_lengths(p, {0, 1, 399, 400, 401, 512, 7919, 48000}, 31);
}

TEST(StftOracle, NoSnipEdgesMirrored) {
    afx_params p = spec_params();
    p.center = 0;
    p.snip_edges = 0;
    check_lengths(p, {0, 1, 3, 79, 80, 81, 400, 7919}, 41);
}

TEST(StftOracle, NonPowerOfTwoFft) {
    afx_params p = spec_params();
    p.n_fft = 400;
    p.win_length = 0;
    p.hop_length = 100;
    check_lengths(p, {201, 400, 401, 3001}, 51);
    p.center = 0;
    check_lengths(p, {0, 399, 400, 401, 3001}, 52);
}

TEST(StftOracle, OddFft) {
    afx_params p = spec_params();
    p.n_fft = 257;
    p.win_length = 200;  // centred window that stays inside the padded signal
    p.hop_length = 64;
    p.pad_mode = AFX_PAD_CONSTANT;
    check_lengths(p, {1, 100, 257, 1001}, 61);
    p.center = 0;
    p.win_length = 257;
    check_lengths(p, {256, 257, 258, 1001}, 62);
    p.snip_edges = 0;
    check_lengths(p, {1, 63, 257, 1001}, 63);
}

TEST(StftOracle, OddFftCenterFullWindow) {
    // n_fft 257 with the full window: frame t starts at t*hop - 128; 1 + (n - 1)/hop frames (the
    // n_fft/2 = 128 padding on each side gives a padded length of n + 256).
    afx_params p = spec_params();
    p.n_fft = 257;
    p.win_length = 0;
    p.hop_length = 64;
    for (afx_pad_mode m : {AFX_PAD_CONSTANT, AFX_PAD_REFLECT}) {
        SCOPED_TRACE(testing::Message() << "pad " << m);
        p.pad_mode = m;
        check_lengths(p, {300, 320, 1001}, 64);
    }
}

TEST(StftOracle, ShortWindowCentred) {
    afx_params p = spec_params();
    p.n_fft = 512;
    p.win_length = 256;
    p.hop_length = 128;
    for (afx_pad_mode m : {AFX_PAD_REFLECT, AFX_PAD_CONSTANT}) {
        SCOPED_TRACE(testing::Message() << "pad " << m);
        p.pad_mode = m;
        check_lengths(p, {300, 512, 4097}, 71);
    }
    p.win_length = 255;  // odd difference: left offset (n_fft - win)/2 rounds down
    check_lengths(p, {300, 4097}, 72);
}

TEST(StftOracle, PowerOneIsMagnitude) {
    afx_params p = spec_params();
    p.power = 1.0f;
    check_lengths(p, {1000, 7919}, 81);
    p.power = 1.5f;
    check_lengths(p, {1000}, 82);
}

TEST(StftOracle, RoundToPowerOfTwo) {
    afx_params p = spec_params();
    p.round_to_power_of_two = 1;
    p.n_fft = 100;
    p.win_length = 400;
    p.center = 0;
    p.window = AFX_WINDOW_POVEY;
    p.window_periodic = 0;
    check_lengths(p, {400, 1600, 7919}, 91);
}

TEST(StftOracle, EveryWindow) {
    for (int w = AFX_WINDOW_HANN; w <= AFX_WINDOW_RECTANGULAR; w++)
        for (int periodic = 0; periodic <= 1; periodic++)
            for (int center = 0; center <= 1; center++) {
                SCOPED_TRACE(testing::Message() << "window " << w << " periodic " << periodic << " center " << center);
                afx_params p = spec_params();
                p.window = (afx_window)w;
                p.window_periodic = periodic;
                p.center = center;
                check_lengths(p, {2000}, 100 + (uint64_t)(w * 4 + periodic * 2 + center));
            }
}

TEST(StftOracle, ShortClipsReflectPadding) {
    // Clips shorter than the n_fft/2 padding under reflect: the header fixes the frame count; the
    // values must at least be finite and non-negative.
    afx_params p = spec_params();
    std::vector<std::vector<float>> clips = {ref::uniform_noise(1, 5), ref::uniform_noise(2, 6),
                                             ref::uniform_noise(100, 7)};
    ref::Result r = ref::run(p, clips);
    ASSERT_EQ(r.st, AFX_OK) << r.err;
    for (int c = 0; c < 3; c++) {
        EXPECT_EQ(r.nf[(size_t)c], 1 + (int64_t)clips[(size_t)c].size() / 160);
        for (int64_t t = 0; t < r.nf[(size_t)c]; t++)
            for (int f = 0; f < r.nfeat; f++) {
                const float v = r.at(c, t, f);
                ASSERT_TRUE(std::isfinite(v) && v >= 0.0f) << "clip " << c << " frame " << t << " bin " << f;
            }
    }
}

// A cosine exactly on bin k: rectangular window gives |X_k| = A N / 2, periodic Hann A N / 4 at k and
// A N / 8 at k +- 1, and nothing else.
TEST(StftAnalytic, OnBinSine) {
    const int N = 256, k = 10;
    const double A = 0.7, sr = 16000;
    const std::vector<float> x = ref::sine(N * 8, k * sr / N, sr, A, 0.3);
    for (afx_window w : {AFX_WINDOW_RECTANGULAR, AFX_WINDOW_HANN}) {
        SCOPED_TRACE(testing::Message() << "window " << w);
        afx_params p = spec_params();
        p.n_fft = N;
        p.win_length = N;
        p.hop_length = N;
        p.center = 0;
        p.window = w;
        p.window_periodic = 1;
        ref::Result r = ref::run(p, {x});
        ASSERT_EQ(r.st, AFX_OK) << r.err;
        ASSERT_EQ(r.nf[0], 8);
        const double peak = w == AFX_WINDOW_RECTANGULAR ? std::pow(A * N / 2, 2) : std::pow(A * N / 4, 2);
        const double side = w == AFX_WINDOW_RECTANGULAR ? 0.0 : std::pow(A * N / 8, 2);
        for (int64_t t = 0; t < r.nf[0]; t++)
            for (int b = 0; b <= N / 2; b++) {
                const double v = r.at(0, t, b);
                const double want = b == k ? peak : (b == k - 1 || b == k + 1) ? side : 0.0;
                const double tol = b == k ? 1e-5 * peak : 1e-7 * peak;
                EXPECT_NEAR(v, want, tol) << "frame " << t << " bin " << b;
            }
    }
}

// Parseval for a full rectangular frame: |X_0|^2 + 2 sum |X_k|^2 + |X_N/2|^2 = N sum x^2.
TEST(StftAnalytic, Parseval) {
    const uint64_t seed = 777;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    const int N = 512;
    afx_params p = spec_params();
    p.n_fft = N;
    p.win_length = N;
    p.hop_length = N;
    p.center = 0;
    p.window = AFX_WINDOW_RECTANGULAR;
    const std::vector<float> x = ref::uniform_noise(N * 6, seed);
    ASSERT_TRUE(ref::any_nonzero(x));
    ref::Result r = ref::run(p, {x});
    ASSERT_EQ(r.st, AFX_OK) << r.err;
    ASSERT_EQ(r.nf[0], 6);
    for (int64_t t = 0; t < 6; t++) {
        double e = 0, s = 0;
        for (int i = 0; i < N; i++) e += (double)x[(size_t)(t * N + i)] * x[(size_t)(t * N + i)];
        for (int b = 0; b <= N / 2; b++) s += (b == 0 || b == N / 2 ? 1.0 : 2.0) * r.at(0, t, b);
        EXPECT_NEAR(s, N * e, 1e-5 * N * e) << "frame " << t;
    }
}

// ------------------------------------------------------------------------------------------------
// Input handling
// ------------------------------------------------------------------------------------------------
ref::Result run_raw(const afx_params &p, const void *data, int64_t len, afx_sample_format fmt, int channels,
                    uint64_t first = 0) {
    ref::PlanPtr pl = ref::make_plan(p);
    if (!pl) return ref::Result();
    return ref::run_plan(pl.get(), {data}, {len}, fmt, channels, first);
}

TEST(StftInput, Int16IsScaledFloat) {
    const uint64_t seed = 4242;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    std::mt19937_64 g(seed);
    std::uniform_int_distribution<int> d(-32768, 32767);
    const int64_t n = 5000;
    std::vector<int16_t> s((size_t)n);
    std::vector<float> f((size_t)n), fi((size_t)n);
    for (int64_t i = 0; i < n; i++) {
        s[(size_t)i] = (int16_t)d(g);
        f[(size_t)i] = (float)s[(size_t)i] / 32768.0f;
        fi[(size_t)i] = (float)s[(size_t)i];
    }
    ASSERT_TRUE(ref::any_nonzero(f));
    afx_params p = spec_params();
    ref::Result rs = run_raw(p, s.data(), n, AFX_SAMPLE_S16, 1);
    ref::Result rf = run_raw(p, f.data(), n, AFX_SAMPLE_F32, 1);
    ASSERT_EQ(rs.st, AFX_OK) << rs.err;
    ASSERT_EQ(rf.st, AFX_OK) << rf.err;
    ASSERT_EQ(rs.nf[0], rf.nf[0]);
    EXPECT_LE(ref::rel_l2(rs.clip(0), rf.clip(0)), 1e-6);
    // And both equal the oracle of v / 32768.
    ref::expect_clip_close(rs, 0, ref::spectrogram(ref::resolve(p), ref::to_double(f)), kTol);

    // Kaldi convention: int16 with input_scale 32768 == float samples holding the integer values.
    afx_params k = p;
    k.input_scale = 32768.0f;
    ref::Result rk = run_raw(k, s.data(), n, AFX_SAMPLE_S16, 1);
    ASSERT_EQ(rk.st, AFX_OK) << rk.err;
    ref::expect_clip_close(rk, 0, ref::spectrogram(ref::resolve(p), ref::to_double(fi)), kTol);
}

TEST(StftInput, InputScaleMultiplies) {
    const uint64_t seed = 99;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    const std::vector<float> x = ref::uniform_noise(3000, seed);
    ASSERT_TRUE(ref::any_nonzero(x));
    afx_params p = spec_params();
    p.input_scale = -3.0f;
    ref::Result r = ref::run(p, {x});
    ASSERT_EQ(r.st, AFX_OK) << r.err;
    ref::Vec xs = ref::to_double(x);
    for (double &v : xs) v *= -3.0;
    ref::expect_clip_close(r, 0, ref::spectrogram(ref::resolve(p), xs), kTol);
}

TEST(StftInput, ChannelsAveraged) {
    const uint64_t seed = 2024;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    for (int ch : {2, 3}) {
        SCOPED_TRACE(testing::Message() << "channels " << ch);
        const int64_t n = 4001;
        const std::vector<float> inter = ref::uniform_noise(n * ch, seed + (uint64_t)ch);
        ASSERT_TRUE(ref::any_nonzero(inter));
        ref::Vec mono((size_t)n);
        for (int64_t i = 0; i < n; i++) {
            double s = 0;
            for (int c = 0; c < ch; c++) s += inter[(size_t)(i * ch + c)];
            mono[(size_t)i] = s / ch;
        }
        afx_params p = spec_params();
        ref::Result r = run_raw(p, inter.data(), n, AFX_SAMPLE_F32, ch);
        ASSERT_EQ(r.st, AFX_OK) << r.err;
        ref::expect_clip_close(r, 0, ref::spectrogram(ref::resolve(p), mono), kTol);
    }
    // Int16 stereo as well.
    std::vector<int16_t> s16(2 * 3000);
    std::mt19937_64 g(seed);
    std::uniform_int_distribution<int> d(-20000, 20000);
    for (auto &v : s16) v = (int16_t)d(g);
    ref::Vec mono(3000);
    for (size_t i = 0; i < 3000; i++) mono[i] = ((double)s16[2 * i] + s16[2 * i + 1]) / 2.0 / 32768.0;
    afx_params p = spec_params();
    ref::Result r = run_raw(p, s16.data(), 3000, AFX_SAMPLE_S16, 2);
    ASSERT_EQ(r.st, AFX_OK) << r.err;
    ref::expect_clip_close(r, 0, ref::spectrogram(ref::resolve(p), mono), kTol);
}

TEST(StftInput, DcOffsetAndPreemphasisKaldi) {
    const uint64_t seed = 5150;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    std::vector<float> x = ref::uniform_noise(6000, seed, 0.3);
    for (size_t i = 0; i < x.size(); i++) x[i] += 0.4f + 0.2f * (float)std::sin(0.001 * (double)i);
    for (int snip = 0; snip <= 1; snip++)
        for (int dc = 0; dc <= 1; dc++)
            for (float pre : {0.0f, 0.97f, 1.0f}) {
                SCOPED_TRACE(testing::Message() << "snip " << snip << " dc " << dc << " preemph " << pre);
                afx_params p = spec_params();
                p.center = 0;
                p.snip_edges = snip;
                p.remove_dc_offset = dc;
                p.preemphasis = pre;
                p.window = AFX_WINDOW_POVEY;
                p.window_periodic = 0;
                p.round_to_power_of_two = 1;
                ref::Result r = ref::run(p, {x});
                ASSERT_EQ(r.st, AFX_OK) << r.err;
                ref::expect_clip_close(r, 0, ref::spectrogram(ref::resolve(p), ref::to_double(x)), kTol);
            }
}

TEST(StftDither, SeedDeterminism) {
    const uint64_t seed = 31337;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    const std::vector<float> x = ref::uniform_noise(4000, seed, 0.1);
    afx_params p = spec_params();
    p.center = 0;
    p.dither = 0.01f;
    p.dither_seed = 5;
    ref::Result a = ref::run(p, {x});
    ref::Result b = ref::run(p, {x});
    p.dither_seed = 6;
    ref::Result c = ref::run(p, {x});
    ASSERT_EQ(a.st, AFX_OK) << a.err;
    ASSERT_EQ(b.st, AFX_OK);
    ASSERT_EQ(c.st, AFX_OK);
    EXPECT_EQ(a.out, b.out) << "same dither_seed must give identical output";
    EXPECT_NE(a.out, c.out) << "different dither_seed must give different output";
    // Dither changes the output relative to no dither by roughly the expected amount.
    afx_params q = spec_params();
    q.center = 0;
    ref::Result clean = ref::run(q, {x});
    ASSERT_EQ(clean.st, AFX_OK);
    const double e = ref::rel_l2(a.clip(0), clean.clip(0));
    EXPECT_GT(e, 1e-4);
    EXPECT_LT(e, 0.5);

    // dither 0: seeds do not matter and the output is the no-dither oracle.
    q.dither = 0.0f;
    q.dither_seed = 1;
    ref::Result z1 = ref::run(q, {x});
    q.dither_seed = 2;
    ref::Result z2 = ref::run(q, {x});
    ASSERT_EQ(z1.st, AFX_OK);
    ASSERT_EQ(z2.st, AFX_OK);
    EXPECT_EQ(z1.out, z2.out);
    ref::expect_clip_close(z1, 0, ref::spectrogram(ref::resolve(q), ref::to_double(x)), kTol);
}

// Dither is Gaussian with std `dither` per sample: on silence with a rectangular window the expected
// power per non-DC bin is win_length * dither^2.
TEST(StftDither, NoiseLevel) {
    afx_params p = spec_params();
    p.center = 0;
    p.n_fft = 256;
    p.win_length = 256;
    p.hop_length = 128;
    p.window = AFX_WINDOW_RECTANGULAR;
    p.dither = 0.5f;
    p.dither_seed = 77;
    const std::vector<float> x(16000, 0.0f);
    ref::Result r = ref::run(p, {x});
    ASSERT_EQ(r.st, AFX_OK) << r.err;
    double s = 0;
    int64_t cnt = 0;
    for (int64_t t = 0; t < r.nf[0]; t++)
        for (int b = 1; b < 128; b++, cnt++) s += r.at(0, t, b);
    const double mean = s / (double)cnt, want = 256 * 0.25;
    EXPECT_NEAR(mean, want, 0.05 * want);
}

// Dither noise is keyed by the global clip index, not by the batch.
TEST(StftDither, IndependentOfBatch) {
    const uint64_t seed = 8080;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    afx_params p = spec_params();
    p.center = 0;
    p.dither = 0.05f;
    p.dither_seed = 3;
    std::vector<std::vector<float>> clips = {ref::uniform_noise(3000, seed), ref::uniform_noise(2000, seed + 1),
                                             ref::uniform_noise(3000, seed + 2)};
    clips[2] = clips[0];  // same samples, different index: different noise
    ref::Result b = ref::run(p, clips, 10);
    ASSERT_EQ(b.st, AFX_OK) << b.err;
    for (int j = 0; j < 3; j++) {
        ref::Result a = ref::run(p, {clips[(size_t)j]}, 10 + (uint64_t)j);
        ASSERT_EQ(a.st, AFX_OK);
        ASSERT_EQ(a.nf[0], b.nf[(size_t)j]);
        EXPECT_LE(ref::rel_l2(b.clip(j), a.clip(0)), 1e-6) << "clip " << j;
    }
    EXPECT_GT(ref::max_abs_diff(b.clip(0), b.clip(2)), 0.0) << "clips 0 and 2 got the same dither";
}

}  // namespace
