// afx_params.fixed_length: every clip cut or zero-padded at its end to exactly N samples before framing
// (the fixed clip length of TF / torchaudio training pipelines). Oracle: the float64 pipeline (ref.h) on
// the explicitly cut or padded signal, so padding happens before centring/reflection, as in those
// pipelines (pad the waveform, then STFT).
#include "ref.h"

namespace {

std::vector<float> cut_or_pad(const std::vector<float> &x, size_t n) {
    std::vector<float> y(n, 0.0f);
    std::copy(x.begin(), x.begin() + (long)std::min(n, x.size()), y.begin());
    return y;
}

}  // namespace

TEST(FixedLength, PadsShortTrimsLongAndFillsEmptyClips) {
    for (afx_feature feat : {AFX_FEATURE_SPECTROGRAM, AFX_FEATURE_LOGMEL, AFX_FEATURE_DB, AFX_FEATURE_MFCC}) {
        for (int center : {1, 0}) {
            afx_params p = ref::base_params();
            p.feature = feat;
            p.center = center;
            p.fixed_length = 16000;
            p.max_samples = 16000;  // fixed_length: longer clips are accepted and cut
            const std::vector<std::vector<float>> clips = {
                ref::uniform_noise(7001, 1), ref::uniform_noise(40000, 2), {}, ref::uniform_noise(16000, 3),
                ref::sine(3, 440.0, 16000.0)};
            ref::Result r = ref::run(p, clips);
            ASSERT_EQ(r.st, AFX_OK) << r.err;
            for (size_t c = 0; c < clips.size(); c++) {
                const ref::Mat want = ref::features(p, ref::to_double(cut_or_pad(clips[c], 16000)));
                ASSERT_GT(want.size(), 0u);
                ref::expect_clip_close(r, (int)c, want, feat == AFX_FEATURE_SPECTROGRAM ? 2e-6 : 2e-5);
            }
        }
    }
}

TEST(FixedLength, FrameCountIsTheFixedOnesForEveryLength) {
    afx_params p = ref::base_params();
    p.fixed_length = 32000;
    ref::PlanPtr plan = ref::make_plan(p);
    ASSERT_TRUE(plan);
    const int64_t want = 1 + 32000 / p.hop_length;  // centred, even n_fft: 1 + n / hop
    for (int64_t n : {0, 1, 100, 31999, 32000, 32001, 1000000})
        EXPECT_EQ(afx_plan_frames_for_length(plan.get(), n), want) << "n=" << n;
}

TEST(FixedLength, NanPastTheCutIsIgnoredNanBeforeItRefused) {
    afx_params p = ref::base_params();
    p.fixed_length = 8000;
    p.max_samples = 8000;
    std::vector<float> late = ref::uniform_noise(12000, 4), early = late;
    late[9000] = NAN;   // cut away: not part of the clip as framed
    early[100] = NAN;   // inside: refused
    ref::Result r = ref::run(p, {late, early});
    EXPECT_EQ(r.st, AFX_ERR_INVALID_INPUT);
    EXPECT_EQ(r.nf[0], 1 + 8000 / p.hop_length);
    EXPECT_EQ(r.nf[1], -1);
    ref::expect_clip_close(r, 0, ref::features(p, ref::to_double(cut_or_pad(late, 8000))), 2e-5);
}

TEST(FixedLength, ValidationAndByName) {
    afx_params p = ref::base_params();
    char err[AFX_ERROR_MAX] = {0};
    p.fixed_length = -1;
    EXPECT_EQ(afx_params_validate(&p, err, sizeof err), AFX_ERR_INVALID_PARAM);
    EXPECT_NE(std::string(err).find("fixed_length"), std::string::npos) << err;
    p.fixed_length = p.max_samples + 1;
    EXPECT_EQ(afx_params_validate(&p, err, sizeof err), AFX_ERR_INVALID_PARAM);
    ASSERT_EQ(afx_params_set(&p, "fixed_length", "16000", err, sizeof err), AFX_OK) << err;
    EXPECT_EQ(p.fixed_length, 16000);
    char buf[64];
    ASSERT_EQ(afx_params_get(&p, "fixed_length", buf, sizeof buf), AFX_OK);
    EXPECT_STREQ(buf, "16000");
}
