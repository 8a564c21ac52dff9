// Non-finite features, parameter limits and empty outputs (reliability: no silent garbage).
//  - A clip whose features come out NaN/Inf (finite samples too large for a float32 power spectrum, or an
//    input_scale that overflows them) is refused like a NaN-sample clip: n_frames -1, zeroed slot, the
//    other clips computed, AFX_ERR_INVALID_INPUT naming the clip. Before, they were written as valid
//    output, or NaN became the log floor.
//  - Parameters that can only overflow are refused by validation; every preset stays valid.
//  - A batch with no frames and afx_output.data == NULL is accepted (and touches no memory).
#include "ref.h"

namespace {

std::vector<float> scaled(std::vector<float> v, float k) {
    for (float &x : v) x *= k;
    return v;
}

void expect_slot_zero(const ref::Result &r, int c) {
    int nonzero = 0;
    if (r.pooling != AFX_POOL_NONE) {
        const size_t per = r.out.size() / r.nf.size();
        for (size_t i = 0; i < per; i++) nonzero += r.out[(size_t)c * per + i] != 0.0f;
    } else {
        for (int64_t t = 0; t < r.stride; t++)
            for (int f = 0; f < r.nfeat; f++) nonzero += r.at(c, t, f) != 0.0f;
    }
    EXPECT_EQ(nonzero, 0) << "refused clip " << c << " has non-zero output";
}

struct NfCase {
    const char *name;
    void (*set)(afx_params *);
};
void PrintTo(const NfCase &c, std::ostream *os) { *os << c.name; }

const NfCase kFeatureCases[] = {
    {"spectrogram", [](afx_params *p) { p->feature = AFX_FEATURE_SPECTROGRAM; }},
    {"mel", [](afx_params *p) { p->feature = AFX_FEATURE_MEL; }},
    {"logmel", [](afx_params *) {}},
    {"logmel_log_range", [](afx_params *p) { p->log_range = 8.0f; }},
    {"db_top_db", [](afx_params *p) { p->feature = AFX_FEATURE_DB; }},
    {"mfcc", [](afx_params *p) { p->feature = AFX_FEATURE_MFCC; }},
    {"logmel_minmax", [](afx_params *p) { p->normalize = AFX_NORM_MINMAX; }},
    {"logmel_utterance", [](afx_params *p) { p->normalize = AFX_NORM_UTTERANCE; }},
    {"mfcc_feature_norm_tf", [](afx_params *p) {
         p->feature = AFX_FEATURE_MFCC;
         p->normalize = AFX_NORM_FEATURE;
         p->layout = AFX_LAYOUT_TF;
     }},
    {"db_pool_meanstd", [](afx_params *p) {
         p->feature = AFX_FEATURE_DB;
         p->pooling = AFX_POOL_MEAN_STD;
     }},
    {"kaldi_mfcc_energy", [](afx_params *p) {
         char err[AFX_ERROR_MAX];
         afx_params_preset(p, AFX_PRESET_KALDI, AFX_FEATURE_MFCC, err, sizeof err);
         p->dither = 0.0f;
         p->max_batch = 8;
         p->max_samples = 64000;
     }},
};

class NonFiniteFeatures : public ::testing::TestWithParam<NfCase> {};

// Float samples of 1e30 (finite, so the sample scan passes them) overflow the float32 power spectrum.
TEST_P(NonFiniteFeatures, HugeFiniteSamplesRefusedPerClip) {
    const uint64_t seed = 3030;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    afx_params p = ref::base_params();
    GetParam().set(&p);
    std::vector<std::vector<float>> clips = {ref::uniform_noise(4000, seed), scaled(ref::uniform_noise(3000, seed + 1), 2e30f),
                                             ref::uniform_noise(5000, seed + 2)};
    for (const auto &c : clips) ASSERT_TRUE(ref::any_nonzero(c));
    ref::Result r = ref::run(p, clips, 500);
    ASSERT_EQ(r.st, AFX_ERR_INVALID_INPUT) << r.err;
    EXPECT_EQ(r.nf[1], -1);
    EXPECT_NE(r.err.find("clip 1 (global index 501)"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("not finite"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("power spectrum overflowed"), std::string::npos) << r.err;
    expect_slot_zero(r, 1);
    for (int c : {0, 2}) {
        ref::Result alone = ref::run(p, {clips[(size_t)c]}, 500 + (uint64_t)c);
        ASSERT_EQ(alone.st, AFX_OK) << alone.err;
        ASSERT_EQ(r.nf[(size_t)c], alone.nf[0]);
        if (r.pooling == AFX_POOL_NONE) {
            EXPECT_EQ(ref::max_abs_diff(r.clip(c), alone.clip(0)), 0.0) << "clip " << c;
            ref::expect_padding_zero(r, c);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Reliability, NonFiniteFeatures, ::testing::ValuesIn(kFeatureCases));

// Samples of 3e38 times input_scale 2 are Inf inside the pipeline: the FFT makes NaN (Inf - Inf), which
// log(max(x, floor)) used to turn into the log floor, i.e. plausible features. Now the clip is refused.
TEST(NonFiniteFeatures, NanInsidePipelineNotHiddenByLogFloor) {
    for (afx_feature feat : {AFX_FEATURE_LOGMEL, AFX_FEATURE_DB, AFX_FEATURE_MFCC}) {
        SCOPED_TRACE(testing::Message() << "feature " << feat);
        afx_params p = ref::base_params();
        p.feature = feat;
        p.input_scale = 2.0f;
        std::vector<float> loud(4000);
        for (size_t i = 0; i < loud.size(); i++) loud[i] = (i % 2 ? 3e38f : -3e38f);
        ref::Result r = ref::run(p, {ref::uniform_noise(4000, 7), loud});
        ASSERT_EQ(r.st, AFX_ERR_INVALID_INPUT) << r.err;
        EXPECT_EQ(r.nf[1], -1);
        EXPECT_GE(r.nf[0], 1);
        EXPECT_NE(r.err.find("clip 1"), std::string::npos) << r.err;
        expect_slot_zero(r, 1);
    }
}

// Every output value of an accepted clip is finite, even at the edges of the float range that is accepted
// (1e15 samples: power ~1e34 still fits float32).
TEST(NonFiniteFeatures, LargeButRepresentableSamplesAccepted) {
    afx_params p = ref::base_params();
    p.feature = AFX_FEATURE_MFCC;
    ref::Result r = ref::run(p, {scaled(ref::uniform_noise(4000, 11), 1e15f)});
    ASSERT_EQ(r.st, AFX_OK) << r.err;
    for (float v : r.out) ASSERT_TRUE(std::isfinite(v));
}

// The parameter values that could only overflow are refused with the parameter's name; the limits
// themselves and every preset are accepted.
TEST(ParamLimits, OverflowingValuesRefusedPresetsAccepted) {
    struct Bad {
        const char *name, *value;
    } bad[] = {{"power", "1000"},         {"input_scale", "3e38"}, {"input_scale", "-3e38"}, {"out_scale", "3e38"},
               {"out_bias", "3e38"},      {"out_bias", "-3e38"},   {"db_multiplier", "3e38"}, {"dither", "1e38"},
               {"power", "8.001"},        {"input_scale", "2e6"}};
    for (const Bad &b : bad) {
        afx_params p;
        afx_params_init(&p);
        char err[AFX_ERROR_MAX] = "";
        ASSERT_EQ(afx_params_set(&p, b.name, b.value, err, sizeof err), AFX_OK) << err;
        EXPECT_EQ(afx_params_validate(&p, err, sizeof err), AFX_ERR_INVALID_PARAM) << b.name << "=" << b.value;
        EXPECT_NE(std::string(err).find(b.name), std::string::npos) << err;
    }
    struct Good {
        const char *name, *value;
    } good[] = {{"power", "8"},         {"power", "0.5"},        {"input_scale", "32768"}, {"input_scale", "-1"},
                {"input_scale", "1048576"}, {"out_scale", "0.25"}, {"out_bias", "-1e6"},     {"db_multiplier", "20"},
                {"db_multiplier", "1000"}, {"dither", "65536"}};
    for (const Good &g : good) {
        afx_params p;
        afx_params_init(&p);
        char err[AFX_ERROR_MAX] = "";
        ASSERT_EQ(afx_params_set(&p, g.name, g.value, err, sizeof err), AFX_OK) << err;
        EXPECT_EQ(afx_params_validate(&p, err, sizeof err), AFX_OK) << g.name << "=" << g.value << ": " << err;
    }
    for (int pr = 0; afx_enum_name(AFX_ENUM_PRESET, pr); pr++)
        for (int f = 0; afx_enum_name(AFX_ENUM_FEATURE, f); f++) {
            afx_params p;
            char err[AFX_ERROR_MAX] = "";
            if (afx_params_preset(&p, (afx_preset)pr, (afx_feature)f, err, sizeof err) != AFX_OK) continue;
            EXPECT_EQ(afx_params_validate(&p, err, sizeof err), AFX_OK)
                << afx_enum_name(AFX_ENUM_PRESET, pr) << " " << afx_enum_name(AFX_ENUM_FEATURE, f) << ": " << err;
        }
}

// A batch whose clips all have 0 frames needs 0 output elements; afx.h allows data == NULL then. The CPU
// backend used to memset(NULL, 0, 0), undefined behaviour that UBSan reports (the sanitizer build runs
// this test).
TEST(EmptyOutput, ZeroFrameBatchWithNullData) {
    for (afx_layout layout : {AFX_LAYOUT_FT, AFX_LAYOUT_TF}) {
        afx_params p = ref::base_params();
        p.layout = layout;
        p.cpu_threads = 2;
        ref::PlanPtr plan = ref::make_plan(p);
        ASSERT_TRUE(plan);
        const void *clips[2] = {nullptr, nullptr};
        int64_t lens[2] = {0, 0}, nf[2] = {-7, -7};
        afx_input in{AFX_SAMPLE_F32, 1, clips, lens, 2, 0};
        afx_output out{nullptr, 0, nf};
        ASSERT_EQ(afx_plan_execute(plan.get(), &in, &out), AFX_OK) << afx_plan_error(plan.get());
        EXPECT_EQ(nf[0], 0);
        EXPECT_EQ(nf[1], 0);
    }
    // Center=0 framing: clips shorter than a window have 0 frames too.
    afx_params p = ref::base_params();
    p.center = 0;
    ref::PlanPtr plan = ref::make_plan(p);
    std::vector<float> a = ref::uniform_noise(100, 1);
    const void *clips[1] = {a.data()};
    int64_t lens[1] = {100}, nf[1] = {-7};
    afx_input in{AFX_SAMPLE_F32, 1, clips, lens, 1, 0};
    afx_output out{nullptr, 0, nf};
    ASSERT_EQ(afx_plan_execute(plan.get(), &in, &out), AFX_OK) << afx_plan_error(plan.get());
    EXPECT_EQ(nf[0], 0);
}

}  // namespace
