// MFCC: orthonormal DCT-II of the log mel vs a float64 oracle, Parseval, Kaldi lifter, Kaldi energy.
#include "ref.h"

namespace {

afx_params mfcc_params() {
    afx_params p = ref::base_params();
    p.feature = AFX_FEATURE_MFCC;
    return p;
}

TEST(MfccOracle, EveryLogType) {
    const uint64_t seed = 60606;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    std::vector<std::vector<float>> clips = {ref::uniform_noise(8000, seed, 0.5), ref::uniform_noise(5000, seed + 1, 1e-3),
                                             ref::uniform_noise(300, seed + 2, 0.2)};
    for (size_t i = 0; i < 4000; i++) clips[0][i] = 0.0f;  // silent part: exercises floors and top_db
    for (auto &c : clips) ASSERT_TRUE(ref::any_nonzero(c));
    struct M {
        afx_log_type log;
        int n_mels, n_mfcc;
        afx_mel_scale scale;
    } cases[] = {{AFX_LOG_DB, 80, 20, AFX_MEL_HTK},  // defaults (torchaudio MFCC)
                 {AFX_LOG_LN, 40, 13, AFX_MEL_HTK},
                 {AFX_LOG_LOG10, 64, 30, AFX_MEL_SLANEY},
                 {AFX_LOG_LN, 23, 13, AFX_MEL_KALDI},
                 {AFX_LOG_DB, 40, 40, AFX_MEL_SLANEY}};
    for (const M &m : cases) {
        SCOPED_TRACE(testing::Message() << "log " << m.log << " n_mels " << m.n_mels << " n_mfcc " << m.n_mfcc);
        afx_params p = mfcc_params();
        p.mfcc_log = m.log;
        p.n_mels = m.n_mels;
        p.n_mfcc = m.n_mfcc;
        p.mel_scale = m.scale;
        p.log_offset = 1e-6f;
        ref::Result r = ref::run(p, clips, 0, 1);
        ASSERT_EQ(r.st, AFX_OK) << r.err;
        ASSERT_EQ(r.nfeat, m.n_mfcc);
        for (int k = 0; k < 3; k++) {
            SCOPED_TRACE(testing::Message() << "clip " << k);
            ref::expect_clip_close(r, k, ref::features(p, ref::to_double(clips[(size_t)k])), 1e-5);
            ref::expect_padding_zero(r, k);
        }
    }
}

// With n_mfcc == n_mels the DCT is orthonormal: each frame's MFCC vector has the log-mel vector's norm.
TEST(MfccDct, OrthonormalParseval) {
    const uint64_t seed = 1212;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    const std::vector<float> x = ref::uniform_noise(6000, seed);
    ASSERT_TRUE(ref::any_nonzero(x));
    for (int n : {40, 13}) {
        SCOPED_TRACE(testing::Message() << "n_mels " << n);
        afx_params p = mfcc_params();
        p.mfcc_log = AFX_LOG_LN;
        p.n_mels = n;
        p.n_mfcc = n;
        ref::Result rm = ref::run(p, {x});
        p.feature = AFX_FEATURE_LOGMEL;
        p.log_base = AFX_LOG_LN;
        ref::Result rl = ref::run(p, {x});
        ASSERT_EQ(rm.st, AFX_OK) << rm.err;
        ASSERT_EQ(rl.st, AFX_OK) << rl.err;
        ASSERT_EQ(rm.nf[0], rl.nf[0]);
        const ref::Mat dct = ref::dct_ortho(n, n);
        for (int64_t t = 0; t < rm.nf[0]; t++) {
            double a = 0, b = 0;
            for (int i = 0; i < n; i++) {
                a += (double)rm.at(0, t, i) * rm.at(0, t, i);
                b += (double)rl.at(0, t, i) * rl.at(0, t, i);
            }
            ASSERT_NEAR(std::sqrt(a), std::sqrt(b), 1e-5 * std::sqrt(b)) << "frame " << t;
            // and each coefficient is the ortho DCT-II of the library's own log mel
            for (int k = 0; k < n; k++) {
                double c = 0;
                for (int i = 0; i < n; i++) c += dct[(size_t)k][(size_t)i] * rl.at(0, t, i);
                ASSERT_NEAR(rm.at(0, t, k), c, 1e-5 * std::sqrt(b)) << "frame " << t << " coef " << k;
            }
        }
    }
}

TEST(MfccLifter, KaldiSineLifter) {
    const uint64_t seed = 2222;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    const std::vector<float> x = ref::uniform_noise(6000, seed);
    ASSERT_TRUE(ref::any_nonzero(x));
    for (float Q : {22.0f, 7.5f}) {
        SCOPED_TRACE(testing::Message() << "Q " << Q);
        afx_params p = mfcc_params();
        p.mfcc_log = AFX_LOG_LN;
        p.n_mels = 40;
        p.n_mfcc = 20;
        ref::Result plain = ref::run(p, {x});
        p.cepstral_lifter = Q;
        ref::Result lift = ref::run(p, {x});
        ASSERT_EQ(plain.st, AFX_OK) << plain.err;
        ASSERT_EQ(lift.st, AFX_OK) << lift.err;
        ref::expect_clip_close(lift, 0, ref::features(p, ref::to_double(x)), 1e-5);
        for (int64_t t = 0; t < plain.nf[0]; t++) {
            double norm = 0;
            for (int i = 0; i < 20; i++) norm += (double)plain.at(0, t, i) * plain.at(0, t, i);
            norm = std::sqrt(norm);
            for (int i = 0; i < 20; i++) {
                const double L = 1.0 + Q / 2.0 * std::sin(ref::kPi * i / Q);
                ASSERT_NEAR(lift.at(0, t, i), L * plain.at(0, t, i), 1e-5 * norm * std::max(1.0, std::fabs(L))) << "frame " << t << " coef " << i;
            }
        }
    }
}

// Kaldi-style MFCC (compute-mfcc-feats defaults) with use_energy, raw and windowed energy, floors.
TEST(MfccEnergy, KaldiConfiguration) {
    const uint64_t seed = 3333;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    std::vector<float> x = ref::uniform_noise(8000, seed, 3000.0);  // int16-like sample units
    for (size_t i = 0; i < x.size(); i++) x[i] += 500.0f;             // a DC offset to remove
    for (size_t i = 3000; i < 5000; i++) x[i] = 0.0f;                  // silence: FLT_EPSILON floor
    ASSERT_TRUE(ref::any_nonzero(x));
    for (int raw = 0; raw <= 1; raw++)
        for (float floor_ : {0.0f, 1.0f, 1e12f}) {
            SCOPED_TRACE(testing::Message() << "raw_energy " << raw << " energy_floor " << floor_);
            afx_params p = mfcc_params();
            p.center = 0;
            p.snip_edges = 1;
            p.window = AFX_WINDOW_POVEY;
            p.window_periodic = 0;
            p.round_to_power_of_two = 1;
            p.win_length = 400;
            p.hop_length = 160;
            p.remove_dc_offset = 1;
            p.preemphasis = 0.97f;
            p.mel_scale = AFX_MEL_KALDI;
            p.n_mels = 23;
            p.f_min = 20.0f;
            p.f_max = 0.0f;
            p.n_mfcc = 13;
            p.mfcc_log = AFX_LOG_LN;
            p.log_floor = FLT_EPSILON;
            p.cepstral_lifter = 22.0f;
            p.mfcc_energy = 1;
            p.raw_energy = raw;
            p.energy_floor = floor_;
            ref::Result r = ref::run(p, {x});
            ASSERT_EQ(r.st, AFX_OK) << r.err;
            ASSERT_EQ(r.nfeat, 13);
            const ref::Mat want = ref::features(p, ref::to_double(x));
            ref::expect_clip_close(r, 0, want, 1e-5);
            // c0 separately: it is the log energy, not a DCT coefficient.
            const ref::Cfg c = ref::resolve(p);
            for (int64_t t = 0; t < r.nf[0]; t++) {
                ref::Vec seg = ref::frame_segment(c, ref::to_double(x), t);
                double mean = 0, e = 0;
                for (double v : seg) mean += v;
                mean /= (double)seg.size();
                for (double v : seg) e += (v - mean) * (v - mean);
                if (raw) {
                    double le = std::log(std::max(e, (double)FLT_EPSILON));
                    if (floor_ > 0) le = std::max(le, std::log((double)floor_));
                    ASSERT_NEAR(r.at(0, t, 0), le, 1e-4 * std::max(1.0, std::fabs(le))) << "frame " << t;
                } else {
                    ASSERT_NEAR(r.at(0, t, 0), want[(size_t)t][0], 1e-4 * std::max(1.0, std::fabs(want[(size_t)t][0])))
                        << "frame " << t;
                }
            }
        }
}

}  // namespace
