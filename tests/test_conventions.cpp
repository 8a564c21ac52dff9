// Peer-library convention fields (mel_linspace_freqs, dct_norm, drop_last_frame, log_range,
// out_scale/out_bias), 16-bit output, parameters by name and presets, against float64 oracles written
// from the peer libraries' formulas (cited per test) and independent conversions.
#include <cfloat>
#include <cstring>
#include <set>
#include <string>

#include "common/half.h"
#include "ref.h"

namespace {

// torchaudio melscale_fbanks: all_freqs = linspace(0, sr // 2, n_freqs); triangles in Hz (HTK, no norm).
ref::Mat torchaudio_fb(int sr, int n_fft, int n_mels, double fmin, double fmax) {
    const int nb = n_fft / 2 + 1;
    const ref::Vec f = ref::mel_edges_hz(AFX_MEL_HTK, n_mels, fmin, fmax);
    ref::Mat fb((size_t)n_mels, ref::Vec((size_t)nb, 0.0));
    for (int b = 0; b < n_mels; b++)
        for (int k = 0; k < nb; k++) {
            const double fk = (double)(sr / 2) * k / (nb - 1);
            const double down = (fk - f[(size_t)b]) / (f[(size_t)b + 1] - f[(size_t)b]);
            const double up = (f[(size_t)b + 2] - fk) / (f[(size_t)b + 2] - f[(size_t)b + 1]);
            fb[(size_t)b][(size_t)k] = std::max(0.0, std::min(down, up));
        }
    return fb;
}

std::vector<float> chirp_noise(int64_t n, uint64_t seed, int sr, double amp = 0.5) {
    std::vector<float> x = ref::uniform_noise(n, seed, 0.05);
    for (size_t i = 0; i < x.size(); i++)
        x[i] += (float)(amp * std::sin(2 * ref::kPi * (60.0 + 0.25 * (double)i) * (double)i / sr));
    return x;
}

}  // namespace

// Odd n_fft and odd sample rate: the two bin-frequency conventions differ, and afx follows each.
TEST(Conventions, TorchaudioLinspaceBinFrequencies) {
    afx_params p = ref::base_params();
    p.feature = AFX_FEATURE_MEL;
    p.sample_rate = 11025;
    p.n_fft = 401;
    p.win_length = 0;
    p.hop_length = 100;
    p.n_mels = 40;
    p.mel_scale = AFX_MEL_HTK;
    p.mel_linspace_freqs = 1;
    const std::vector<std::vector<float>> clips = {chirp_noise(5000, 7, p.sample_rate)};
    const ref::Cfg c = ref::resolve(p);
    const ref::Mat spec = ref::spectrogram(c, ref::to_double(clips[0]));
    const ref::Mat want = ref::apply_fb(spec, torchaudio_fb(p.sample_rate, p.n_fft, p.n_mels, 0.0, p.sample_rate / 2.0));
    const ref::Mat other = ref::apply_fb(spec, ref::mel_fb(AFX_MEL_HTK, AFX_MEL_NORM_NONE, p.sample_rate, p.n_fft,
                                                           p.n_mels, 0.0, 0.0));
    ASSERT_GT(ref::rel_l2(other, want), 1e-3) << "case does not separate the two conventions";
    ref::Result r = ref::run(p, clips);
    ASSERT_EQ(r.st, AFX_OK) << r.err;
    ref::expect_clip_close(r, 0, want, 1e-5);

    p.mel_linspace_freqs = 0;
    ref::Result r0 = ref::run(p, clips);
    ASSERT_EQ(r0.st, AFX_OK) << r0.err;
    ref::expect_clip_close(r0, 0, other, 1e-5);
}

// tf.signal.mfccs_from_log_mel_spectrograms: dct(type=2) * rsqrt(2 N), i.e. sqrt(2/N) on every row.
TEST(Conventions, TfDctScaling) {
    afx_params p = ref::base_params();
    p.feature = AFX_FEATURE_MFCC;
    p.n_mels = 40;
    p.n_mfcc = 13;
    p.mfcc_log = AFX_LOG_LN;
    p.log_offset = 1e-6f;
    p.dct_norm = AFX_DCT_TF;
    const std::vector<std::vector<float>> clips = {chirp_noise(8000, 11, p.sample_rate)};
    afx_params lp = p;
    lp.feature = AFX_FEATURE_LOGMEL;
    lp.log_base = AFX_LOG_LN;
    const ref::Mat logmel = ref::features(lp, ref::to_double(clips[0]));
    ref::Mat d((size_t)p.n_mfcc, ref::Vec((size_t)p.n_mels));
    for (int k = 0; k < p.n_mfcc; k++)
        for (int n = 0; n < p.n_mels; n++) {
            // tf: 2 * sum x cos(pi k (2n + 1) / 2N), times 1/sqrt(2N)
            d[(size_t)k][(size_t)n] = 2.0 * std::cos(ref::kPi * k * (2.0 * n + 1.0) / (2.0 * p.n_mels)) /
                                      std::sqrt(2.0 * p.n_mels);
        }
    const ref::Mat want = ref::matmul_rows(logmel, d);
    ref::Result r = ref::run(p, clips);
    ASSERT_EQ(r.st, AFX_OK) << r.err;
    ref::expect_clip_close(r, 0, want, 1e-5);
}

// Whisper: stft[..., :-1]. One frame fewer than without, the same values, and never negative.
TEST(Conventions, DropLastFrame) {
    afx_params p = ref::base_params();
    p.feature = AFX_FEATURE_MEL;
    const std::vector<std::vector<float>> clips = {chirp_noise(4000, 3, p.sample_rate), {0.25f}, {}};
    ref::Result keep = ref::run(p, clips);
    p.drop_last_frame = 1;
    ref::Result drop = ref::run(p, clips);
    ASSERT_EQ(keep.st, AFX_OK);
    ASSERT_EQ(drop.st, AFX_OK) << drop.err;
    const ref::Cfg c = ref::resolve(p);
    EXPECT_EQ(drop.nf[0], ref::n_frames(c, 4000) - 1);
    EXPECT_EQ(drop.nf[1], 0);  // 1 frame - 1
    EXPECT_EQ(drop.nf[2], 0);  // empty stays 0, not -1
    for (int64_t t = 0; t < drop.nf[0]; t++)
        for (int f = 0; f < drop.nfeat; f++) ASSERT_EQ(drop.at(0, t, f), keep.at(0, t, f)) << t << "," << f;
    ref::PlanPtr plan = ref::make_plan(p);
    EXPECT_EQ(afx_plan_frames_for_length(plan.get(), 4000), ref::n_frames(c, 4000) - 1);
    EXPECT_EQ(afx_plan_frames_for_length(plan.get(), 0), 0);
    ref::expect_padding_zero(drop, 0);
}

// Whisper's log_spec = max(log_spec, log_spec.max() - 8.0), then (log_spec + 4) / 4, per clip, over
// valid frames only: a loud and a quiet clip in one ragged batch get their own floors.
TEST(Conventions, LogRangeAndAffinePerClip) {
    afx_params p = ref::base_params();
    p.feature = AFX_FEATURE_LOGMEL;
    p.log_base = AFX_LOG_LOG10;
    p.log_floor = 1e-10f;
    p.log_range = 8.0f;
    p.out_scale = 0.25f;
    p.out_bias = 1.0f;
    std::vector<float> loud = chirp_noise(6000, 5, p.sample_rate, 0.9);
    std::vector<float> quiet = chirp_noise(3000, 6, p.sample_rate, 1e-3);
    for (auto &v : quiet) v *= 1e-3f;
    for (size_t i = 0; i < 400; i++) loud[i] = 0.0f;  // silent start: the floor must bite
    const std::vector<std::vector<float>> clips = {loud, quiet};
    ref::Result r = ref::run(p, clips, 0, 3);
    ASSERT_EQ(r.st, AFX_OK) << r.err;
    int floored = 0;
    for (int c = 0; c < 2; c++) {
        afx_params q = p;
        ref::Mat want = ref::features(q, ref::to_double(clips[(size_t)c]));
        double mx = -INFINITY;
        for (const auto &row : want)
            for (double v : row) mx = std::max(mx, v);
        for (auto &row : want)
            for (double &v : row) {
                if (v < mx - 8.0) floored++;
                v = (std::max(v, mx - 8.0) + 4.0) / 4.0;
            }
        ref::expect_clip_close(r, c, want, 1e-6);
        ref::expect_padding_zero(r, c);
    }
    EXPECT_GT(floored, 0) << "the test signal never reaches the floor";
}

// out_scale/out_bias come before normalization: a positive affine map leaves CMVN output unchanged.
TEST(Conventions, AffineBeforeNormalization) {
    afx_params p = ref::base_params();
    p.feature = AFX_FEATURE_LOGMEL;
    p.normalize = AFX_NORM_FEATURE;
    const std::vector<std::vector<float>> clips = {chirp_noise(5000, 9, p.sample_rate)};
    ref::Result a = ref::run(p, clips);
    p.out_scale = 3.0f;
    p.out_bias = -7.0f;
    ref::Result b = ref::run(p, clips);
    ASSERT_EQ(a.st, AFX_OK);
    ASSERT_EQ(b.st, AFX_OK);
    EXPECT_LE(ref::max_abs_diff(a.clip(0), b.clip(0)), 2e-4);
}

// ---- 16-bit output ----

namespace {
// bfloat16 oracle: the nearest of the two bf16 neighbours in double, ties to the even one.
uint16_t bf16_oracle(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    if (std::isnan(x)) return 0;  // not compared
    const uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
    float flo, fhi;
    std::memcpy(&flo, &lo, 4);
    std::memcpy(&fhi, &hi, 4);
    const double dlo = std::fabs((double)x - (double)flo), dhi = std::fabs((double)x - (double)fhi);
    if (dlo < dhi) return (uint16_t)(lo >> 16);
    if (dhi < dlo) return (uint16_t)(hi >> 16);
    return (uint16_t)(((lo >> 16) & 1u) ? hi >> 16 : lo >> 16);
}

// IEEE half oracle through the compiler's _Float16 (GCC 12+ on x86-64: round to nearest even).
uint16_t f16_oracle(float x) {
    _Float16 h = (_Float16)x;
    uint16_t b;
    std::memcpy(&b, &h, 2);
    return b;
}

// One execute of float32 mono clips with 16-bit output: `out` is sized by the caller (guards included),
// `nf` gets the frame counts; returns the status (the plan's message in *err).
afx_status run_16bit(afx_plan *plan, const std::vector<std::vector<float>> &clips, uint64_t first, int64_t stride,
                     std::vector<uint16_t> &out, std::vector<int64_t> &nf, std::string *err) {
    std::vector<const void *> ptrs;
    std::vector<int64_t> lens;
    for (const auto &c : clips) ptrs.push_back(c.data()), lens.push_back((int64_t)c.size());
    afx_input in{};
    in.format = AFX_SAMPLE_F32;
    in.n_channels = 1;
    in.clips = ptrs.data();
    in.lengths = lens.data();
    in.n_clips = (int)clips.size();
    in.first_clip_index = first;
    nf.assign(clips.size(), -7);
    afx_output o{};
    o.data = out.data();
    o.frames_stride = stride;
    o.n_frames = nf.data();
    const afx_status st = afx_plan_execute(plan, &in, &o);
    *err = afx_plan_error(plan);
    return st;
}
}  // namespace

TEST(HalfOutput, ConversionsMatchOracles) {
    std::mt19937_64 g(42);
    std::vector<float> vals = {0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65519.0f, 65520.0f, 1e9f, -1e9f, 6.1035156e-05f,
                               5.9604645e-08f, 2.9802322e-08f, 2.98023259e-08f, 1e-30f, 3.14159265f, INFINITY,
                               -INFINITY};
    for (int e = -30; e <= 20; e++)
        for (int i = 0; i < 200; i++) {
            const uint32_t m = (uint32_t)(g() & 0x7fffffu);
            float f = std::ldexp(1.0f + (float)m / 8388608.0f, e);
            vals.push_back((g() & 1) ? f : -f);
        }
    // exact ties for both formats
    for (uint32_t h = 0x3c00u; h < 0x3c10u; h++) vals.push_back(std::ldexp(1.0f + (float)(2 * (h - 0x3c00u) + 1) / 2048.0f, 0));
    int bad16 = 0, badb = 0;
    for (float v : vals) {
        if (afx_f32_to_f16(v) != f16_oracle(v) && bad16++ < 5) ADD_FAILURE() << "f16 of " << v;
        if (afx_f32_to_bf16(v) != bf16_oracle(v) && badb++ < 5) ADD_FAILURE() << "bf16 of " << v;
    }
    EXPECT_EQ(afx_f32_to_f16(NAN) & 0x7c00u, 0x7c00u);
    EXPECT_NE(afx_f32_to_f16(NAN) & 0x03ffu, 0u);
    EXPECT_EQ(afx_f32_to_bf16(NAN) & 0x7f80u, 0x7f80u);
    EXPECT_NE(afx_f32_to_bf16(NAN) & 0x007fu, 0u);
}

TEST(HalfOutput, PlanWritesRoundedValuesAndZeroPadding) {
    for (afx_dtype dt : {AFX_DTYPE_F16, AFX_DTYPE_BF16}) {
        for (afx_layout layout : {AFX_LAYOUT_FT, AFX_LAYOUT_TF}) {
            SCOPED_TRACE(testing::Message() << "dtype " << dt << " layout " << layout);
            afx_params p = ref::base_params();
            p.feature = AFX_FEATURE_LOGMEL;
            p.layout = layout;
            const std::vector<std::vector<float>> clips = {chirp_noise(4000, 1, 16000), chirp_noise(1500, 2, 16000)};
            ref::Result f32 = ref::run(p, clips, 0, 2);
            ASSERT_EQ(f32.st, AFX_OK);
            p.output_dtype = dt;
            ref::PlanPtr plan = ref::make_plan(p);
            const size_t n = afx_plan_output_size(plan.get(), 2, f32.stride);
            ASSERT_EQ(n, f32.out.size());
            std::vector<uint16_t> out(n + 8, 0xabcd);  // guard after the end
            std::vector<int64_t> nf;
            std::string err;
            ASSERT_EQ(run_16bit(plan.get(), clips, 0, f32.stride, out, nf, &err), AFX_OK) << err;
            for (size_t i = 0; i < n; i++) {
                const uint16_t want = dt == AFX_DTYPE_F16 ? f16_oracle(f32.out[i]) : bf16_oracle(f32.out[i]);
                ASSERT_EQ(out[i], want) << "element " << i << " value " << f32.out[i];
            }
            for (size_t i = n; i < n + 8; i++) EXPECT_EQ(out[i], 0xabcd) << "write past the end";
        }
    }
}

// afx_fits_dtype (kernels/common/half.h) is exactly "the conversion gives a finite value": for float16
// against the compiler's _Float16, for bfloat16 against its analytic limit (the largest bfloat16 is
// 0x7f7f, ~3.3895e38; from halfway to 2^128, float32 0x7f7f8000, round-to-nearest-even gives infinity)
// and the conversion itself, and for float32 isfinite.
TEST(HalfOutput, FitsDtypeIsWhereTheConversionStaysFinite) {
    std::mt19937_64 g(4242);
    std::vector<float> vals = {0.0f, -0.0f, 1.0f, 65504.0f, std::nextafter(65520.0f, 0.0f), 65520.0f, -65520.0f,
                               std::nextafter(65520.0f, 1e9f), 1e5f, 1e30f, FLT_MAX, -FLT_MAX, INFINITY, -INFINITY,
                               NAN};
    for (uint32_t bits : {0x7f7f7fffu, 0x7f7f8000u, 0x7f7f8001u, 0xff7f7fffu, 0xff7f8000u, 0x477fefffu, 0x477ff000u}) {
        float f;
        std::memcpy(&f, &bits, 4);
        vals.push_back(f);
    }
    for (int e = -30; e <= 127; e++)
        for (int i = 0; i < 50; i++) {
            const float f = std::ldexp(1.0f + (float)(g() & 0x7fffffu) / 8388608.0f, e);
            vals.push_back((g() & 1) ? f : -f);
        }
    for (float v : vals) {
        SCOPED_TRACE(testing::Message() << "value " << v);
        EXPECT_EQ(afx_fits_dtype(v, AFX_DTYPE_F32) != 0, std::isfinite(v) != 0);
        EXPECT_EQ(afx_fits_dtype(v, AFX_DTYPE_F16) != 0,
                  !std::isnan(v) && (f16_oracle(v) & 0x7c00u) != 0x7c00u);
        uint32_t a;
        std::memcpy(&a, &v, 4);
        a &= 0x7fffffffu;
        EXPECT_EQ(afx_fits_dtype(v, AFX_DTYPE_BF16) != 0, a < 0x7f7f8000u);
        EXPECT_EQ(afx_fits_dtype(v, AFX_DTYPE_BF16) != 0, (afx_f32_to_bf16(v) & 0x7f80u) != 0x7f80u);
    }
}

// A clip with a value that float16 cannot hold (a power spectrogram of loud audio: |X|^2 far above 65504)
// is refused in float16 output like non-finite features, the other clips are written as the float32 run
// rounded; bfloat16 holds the same values, so nothing is refused there. Frame-wise and pooled.
TEST(HalfOutput, ValuesBeyondFloat16AreRefusedPerClip) {
    const std::vector<std::vector<float>> clips = {ref::uniform_noise(4000, 1, 0.01), ref::uniform_noise(3000, 2, 150.0),
                                                   ref::uniform_noise(5000, 3, 0.01)};
    for (afx_pooling pool : {AFX_POOL_NONE, AFX_POOL_MEAN}) {
        SCOPED_TRACE(testing::Message() << "pooling " << pool);
        afx_params p = ref::base_params();
        p.feature = AFX_FEATURE_SPECTROGRAM;
        p.pooling = pool;
        const ref::Result f32 = ref::run(p, clips, 700, 1);
        ASSERT_EQ(f32.st, AFX_OK) << f32.err;
        const size_t per = f32.out.size() / clips.size();
        float loudest[3] = {0, 0, 0};
        for (size_t c = 0; c < 3; c++)
            for (size_t i = 0; i < per; i++) loudest[c] = std::max(loudest[c], std::fabs(f32.out[c * per + i]));
        ASSERT_GE(loudest[1], 65520.0f);  // the premise: clip 1 overflows float16, the others do not
        ASSERT_LT(std::max(loudest[0], loudest[2]), 65504.0f);
        for (afx_dtype dt : {AFX_DTYPE_F16, AFX_DTYPE_BF16}) {
            SCOPED_TRACE(testing::Message() << "dtype " << dt);
            p.output_dtype = dt;
            ref::PlanPtr plan = ref::make_plan(p);
            std::vector<uint16_t> out(f32.out.size(), 0xabcd);
            std::vector<int64_t> nf;
            std::string err;
            const afx_status st = run_16bit(plan.get(), clips, 700, f32.stride, out, nf, &err);
            if (dt == AFX_DTYPE_BF16) {
                ASSERT_EQ(st, AFX_OK) << err;
                for (size_t i = 0; i < out.size(); i++) ASSERT_EQ(out[i], bf16_oracle(f32.out[i])) << i;
                continue;
            }
            ASSERT_EQ(st, AFX_ERR_INVALID_INPUT);
            EXPECT_EQ(nf[1], -1);
            EXPECT_EQ(nf[0], f32.nf[0]);
            EXPECT_EQ(nf[2], f32.nf[2]);
            EXPECT_NE(err.find("clip 1 (global index 701)"), std::string::npos) << err;
            EXPECT_NE(err.find("not finite in float16"), std::string::npos) << err;
            EXPECT_NE(err.find(pool == AFX_POOL_NONE ? "at frame " : "at pooled value "), std::string::npos) << err;
            for (size_t i = 0; i < per; i++) ASSERT_EQ(out[per + i], 0u) << "refused slot, element " << i;
            for (size_t c : {(size_t)0, (size_t)2})
                for (size_t i = 0; i < per; i++)
                    ASSERT_EQ(out[c * per + i], f16_oracle(f32.out[c * per + i])) << "clip " << c << " element " << i;
        }
    }
}

// ---- parameters by name ----

TEST(ParamsByName, EveryFieldRoundTripsThroughText) {
    afx_params p;
    afx_params_preset(&p, AFX_PRESET_KALDI, AFX_FEATURE_MFCC, nullptr, 0);  // many non-default values
    p.dither_seed = 0xfedcba9876543210ull;
    p.max_samples = (int64_t)1 << 36;
    p.top_db = 12.375f;
    afx_params q;
    afx_params_init(&q);
    std::set<std::string> names;
    int i = 0;
    for (; afx_params_field_name(i); i++) {
        const char *name = afx_params_field_name(i);
        EXPECT_TRUE(names.insert(name).second) << "duplicate " << name;
        char buf[128];
        ASSERT_EQ(afx_params_get(&p, name, buf, sizeof buf), AFX_OK) << name;
        char err[AFX_ERROR_MAX];
        ASSERT_EQ(afx_params_set(&q, name, buf, err, sizeof err), AFX_OK) << name << "=" << buf << ": " << err;
    }
    EXPECT_EQ(afx_params_field_name(-1), nullptr);
    EXPECT_EQ(afx_params_size(), sizeof(afx_params));
    EXPECT_EQ(std::memcmp(&p, &q, sizeof p), 0) << "some field did not round-trip (or is missing from the table)";
    // Every field is listed: changing any byte-distinct field through the table covers the struct.
    EXPECT_GE(i, 55);
}

TEST(ParamsByName, ParsesAndRefuses) {
    afx_params p;
    afx_params_init(&p);
    char err[AFX_ERROR_MAX];
    EXPECT_EQ(afx_params_set(&p, "window", "povey", err, sizeof err), AFX_OK);
    EXPECT_EQ(p.window, AFX_WINDOW_POVEY);
    EXPECT_EQ(afx_params_set(&p, "center", "false", err, sizeof err), AFX_OK);
    EXPECT_EQ(p.center, 0);
    EXPECT_EQ(afx_params_set(&p, "n_fft", "0x200", err, sizeof err), AFX_OK);
    EXPECT_EQ(p.n_fft, 512);
    EXPECT_EQ(afx_params_set(&p, "f_max", "-400.5", err, sizeof err), AFX_OK);
    EXPECT_EQ(p.f_max, -400.5f);
    struct Bad {
        const char *name, *value;
    } bad[] = {{"n_fft", "12x"}, {"n_fft", ""},        {"n_fft", "99999999999"}, {"window", "Hann"},
               {"center", "2"},  {"f_max", "nan"},     {"dither_seed", "-1"},    {"no_such_field", "1"},
               {"power", "abc"}, {"max_samples", "1e3"}};
    for (const Bad &b : bad) {
        afx_params before = p;
        EXPECT_EQ(afx_params_set(&p, b.name, b.value, err, sizeof err), AFX_ERR_INVALID_PARAM) << b.name << "=" << b.value;
        EXPECT_NE(std::string(err).find(b.name), std::string::npos) << err;
        EXPECT_EQ(std::memcmp(&before, &p, sizeof p), 0) << "a refused value changed the params";
    }
    EXPECT_EQ(afx_params_set(&p, "no_such_field", "1", err, sizeof err), AFX_ERR_INVALID_PARAM);
    EXPECT_NE(std::string(err).find("unknown"), std::string::npos) << err;
    EXPECT_EQ(afx_params_set(&p, "window", "nope", err, sizeof err), AFX_ERR_INVALID_PARAM);
    EXPECT_NE(std::string(err).find("hann|hamming"), std::string::npos) << err;
    EXPECT_EQ(afx_params_set(nullptr, "n_fft", "1", err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    char buf[16];
    EXPECT_EQ(afx_params_get(&p, "no_such", buf, sizeof buf), AFX_ERR_INVALID_PARAM);
}

// ---- presets ----

TEST(Presets, EveryPresetValidatesForItsFeaturesAndRefusesOthers) {
    for (int pr = 0; afx_enum_name(AFX_ENUM_PRESET, pr); pr++)
        for (int f = 0; afx_enum_name(AFX_ENUM_FEATURE, f); f++) {
            SCOPED_TRACE(testing::Message() << afx_enum_name(AFX_ENUM_PRESET, pr) << " " << afx_feature_name((afx_feature)f));
            afx_params p;
            afx_params_init(&p);
            p.n_mels = 3;  // must be reset by the preset
            char err[AFX_ERROR_MAX] = "";
            const afx_status st = afx_params_preset(&p, (afx_preset)pr, (afx_feature)f, err, sizeof err);
            const bool unsupported = (pr == AFX_PRESET_WHISPER && (f == AFX_FEATURE_DB || f == AFX_FEATURE_MFCC)) ||
                                     ((pr == AFX_PRESET_KALDI || pr == AFX_PRESET_TF) && f == AFX_FEATURE_DB);
            if (unsupported) {
                EXPECT_EQ(st, AFX_ERR_INVALID_PARAM);
                EXPECT_NE(std::string(err).find(afx_enum_name(AFX_ENUM_PRESET, pr)), std::string::npos) << err;
                EXPECT_EQ(p.n_mels, 3) << "a refused preset changed the params";
                continue;
            }
            ASSERT_EQ(st, AFX_OK) << err;
            EXPECT_EQ(p.feature, (afx_feature)f);
            EXPECT_NE(p.n_mels, 3);
            EXPECT_EQ(afx_params_validate(&p, err, sizeof err), AFX_OK) << err;
        }
    afx_params p;
    EXPECT_EQ(afx_params_preset(&p, (afx_preset)99, AFX_FEATURE_MEL, nullptr, 0), AFX_ERR_INVALID_PARAM);
    EXPECT_EQ(afx_params_preset(nullptr, AFX_PRESET_TF, AFX_FEATURE_MEL, nullptr, 0), AFX_ERR_NULL_ARGUMENT);
}

// The Whisper preset against a float64 transcription of whisper/audio.py log_mel_spectrogram:
// reflect-padded hann(400) STFT, |X|^2 without the last frame, Slaney mel (librosa.filters.mel),
// log10(max(x, 1e-10)), max(x, max - 8), (x + 4) / 4.
TEST(Presets, WhisperMatchesTranscription) {
    afx_params p;
    ASSERT_EQ(afx_params_preset(&p, AFX_PRESET_WHISPER, AFX_FEATURE_LOGMEL, nullptr, 0), AFX_OK);
    p.max_batch = 2;
    p.max_samples = 16000;
    const std::vector<std::vector<float>> clips = {chirp_noise(16000, 21, 16000), chirp_noise(3210, 22, 16000, 0.01)};
    ref::Result r = ref::run(p, clips);
    ASSERT_EQ(r.st, AFX_OK) << r.err;
    ASSERT_EQ(r.nfeat, 80);
    for (int c = 0; c < 2; c++) {
        const ref::Vec x = ref::to_double(clips[(size_t)c]);
        ref::Cfg cfg{16000, 400, 400, 160, AFX_WINDOW_HANN, true, true, true, AFX_PAD_REFLECT, 2.0, 0.0, false};
        ref::Mat spec = ref::spectrogram(cfg, x);
        spec.pop_back();  // stft[..., :-1]
        ref::Mat mel = ref::apply_fb(spec, ref::mel_fb(AFX_MEL_SLANEY, AFX_MEL_NORM_SLANEY, 16000, 400, 80, 0.0, 8000.0));
        double mx = -INFINITY;
        for (auto &row : mel)
            for (double &v : row) {
                v = std::log10(std::max(v, 1e-10));
                mx = std::max(mx, v);
            }
        for (auto &row : mel)
            for (double &v : row) v = (std::max(v, mx - 8.0) + 4.0) / 4.0;
        ASSERT_EQ(r.nf[(size_t)c], (int64_t)mel.size());
        EXPECT_LE(ref::max_abs_diff(r.clip(c), mel), 2e-5) << "clip " << c;
    }
}

// The Kaldi preset's fbank against a float64 transcription of Kaldi's FbankComputer on int16-scaled
// samples: povey window, pre-emphasis 0.97, DC removal, snip edges, 512-point FFT, 23 mel bins from
// 20 Hz in the mel domain, log(max(x, FLT_EPSILON)).
TEST(Presets, KaldiFbankMatchesTranscription) {
    afx_params p;
    ASSERT_EQ(afx_params_preset(&p, AFX_PRESET_KALDI, AFX_FEATURE_LOGMEL, nullptr, 0), AFX_OK);
    EXPECT_EQ(p.dither, 1.0f);  // Kaldi's default; tests turn it off
    p.dither = 0.0f;
    p.max_batch = 1;
    p.max_samples = 16000;
    const std::vector<std::vector<float>> clips = {chirp_noise(12345, 31, 16000)};
    ref::Result r = ref::run(p, clips);
    ASSERT_EQ(r.st, AFX_OK) << r.err;
    ASSERT_EQ(r.layout, AFX_LAYOUT_TF);
    ref::Vec x = ref::to_double(clips[0]);
    for (double &v : x) v *= 32768.0;
    ref::Cfg cfg{16000, 512, 400, 160, AFX_WINDOW_POVEY, false, false, true, AFX_PAD_REFLECT, 2.0, 0.97, true};
    ref::Mat mel = ref::apply_fb(ref::spectrogram(cfg, x),
                                 ref::mel_fb(AFX_MEL_KALDI, AFX_MEL_NORM_NONE, 16000, 512, 23, 20.0, 0.0));
    for (auto &row : mel)
        for (double &v : row) v = std::log(std::max(v, (double)FLT_EPSILON));
    ASSERT_EQ(r.nf[0], (int64_t)mel.size());
    ASSERT_EQ(r.nf[0], 1 + (12345 - 400) / 160);
    EXPECT_LE(ref::max_abs_diff(r.clip(0), mel), 1e-3);
    EXPECT_LE(ref::rel_l2(r.clip(0), mel), 1e-6);
}
