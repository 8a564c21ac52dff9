// Core API contract: defaults, names, versions, NULL handling, parameter validation, plan limits,
// refused clips. Oracle: include/afx.h.
#include <set>
#include <string>

#include "ref.h"

namespace {

using ref::base_params;

TEST(ApiDefaults, MatchHeader) {
    afx_params p;
    std::memset(&p, 0xA5, sizeof p);
    afx_params_init(&p);
    EXPECT_EQ(p.backend, AFX_BACKEND_CPU);
    EXPECT_EQ(p.max_batch, 16);
    EXPECT_EQ(p.max_samples, 9600000);
    EXPECT_EQ(p.sample_rate, 16000);
    EXPECT_EQ(p.input_scale, 1.0f);
    EXPECT_EQ(p.dither, 0.0f);
    EXPECT_EQ(p.dither_seed, 0u);
    EXPECT_EQ(p.remove_dc_offset, 0);
    EXPECT_EQ(p.preemphasis, 0.0f);
    EXPECT_EQ(p.n_fft, 512);
    EXPECT_EQ(p.win_length, 400);
    EXPECT_EQ(p.hop_length, 160);
    EXPECT_EQ(p.round_to_power_of_two, 0);
    EXPECT_EQ(p.window, AFX_WINDOW_HANN);
    EXPECT_EQ(p.window_periodic, 1);
    EXPECT_EQ(p.center, 1);
    EXPECT_EQ(p.pad_mode, AFX_PAD_REFLECT);
    EXPECT_EQ(p.snip_edges, 1);
    EXPECT_EQ(p.power, 2.0f);
    EXPECT_EQ(p.feature, AFX_FEATURE_LOGMEL);
    EXPECT_EQ(p.n_mels, 80);
    EXPECT_EQ(p.f_min, 0.0f);
    EXPECT_EQ(p.f_max, 0.0f);
    EXPECT_EQ(p.mel_scale, AFX_MEL_HTK);
    EXPECT_EQ(p.mel_norm, AFX_MEL_NORM_NONE);
    EXPECT_EQ(p.log_base, AFX_LOG_LN);
    EXPECT_EQ(p.log_offset, 0.0f);
    EXPECT_EQ(p.log_floor, 1e-10f);
    EXPECT_EQ(p.db_multiplier, 10.0f);
    EXPECT_EQ(p.db_ref, 1.0f);
    EXPECT_EQ(p.db_amin, 1e-10f);
    EXPECT_EQ(p.top_db, 80.0f);
    EXPECT_EQ(p.n_mfcc, 20);
    EXPECT_EQ(p.mfcc_log, AFX_LOG_DB);
    EXPECT_EQ(p.cepstral_lifter, 0.0f);
    EXPECT_EQ(p.mfcc_energy, 0);
    EXPECT_EQ(p.raw_energy, 1);
    EXPECT_EQ(p.energy_floor, 0.0f);
    EXPECT_EQ(p.normalize, AFX_NORM_NONE);
    EXPECT_EQ(p.norm_vars, 1);
    EXPECT_EQ(p.norm_eps, 1e-10f);
    EXPECT_EQ(p.n_time_masks, 0);
    EXPECT_EQ(p.time_mask_param, 0);
    EXPECT_EQ(p.n_freq_masks, 0);
    EXPECT_EQ(p.freq_mask_param, 0);
    EXPECT_EQ(p.mask_seed, 0u);
    EXPECT_EQ(p.mask_value, AFX_MASK_ZERO);
    EXPECT_EQ(p.pooling, AFX_POOL_NONE);
    EXPECT_EQ(p.layout, AFX_LAYOUT_FT);
    // The defaults are valid.
    char err[AFX_ERROR_MAX];
    EXPECT_EQ(afx_params_validate(&p, err, sizeof err), AFX_OK) << err;
    afx_params_init(nullptr);  // NULL is ignored
}

TEST(ApiStatus, NamesStableAndDistinct) {
    const char *want[] = {"AFX_OK",
                          "AFX_ERR_NULL_ARGUMENT",
                          "AFX_ERR_INVALID_PARAM",
                          "AFX_ERR_INVALID_INPUT",
                          "AFX_ERR_OUT_OF_MEMORY",
                          "AFX_ERR_BACKEND_UNAVAILABLE",
                          "AFX_ERR_EXCEEDS_PLAN",
                          "AFX_ERR_IO",
                          "AFX_ERR_DECODE",
                          "AFX_ERR_RESAMPLE",
                          "AFX_ERR_INTERNAL"};
    ASSERT_EQ((int)AFX_STATUS_COUNT_, 11);
    std::set<std::string> names, strings;
    for (int s = 0; s < AFX_STATUS_COUNT_; s++) {
        const char *n = afx_status_name((afx_status)s);
        const char *d = afx_status_string((afx_status)s);
        ASSERT_NE(n, nullptr);
        ASSERT_NE(d, nullptr);
        EXPECT_STREQ(n, want[s]);
        EXPECT_GT(std::strlen(d), 0u) << want[s];
        names.insert(n);
        strings.insert(d);
    }
    EXPECT_EQ(names.size(), (size_t)AFX_STATUS_COUNT_);
    EXPECT_EQ(strings.size(), (size_t)AFX_STATUS_COUNT_);
    EXPECT_STREQ(afx_status_name(AFX_STATUS_COUNT_), "AFX_ERR_UNKNOWN");
    EXPECT_STREQ(afx_status_name((afx_status)999), "AFX_ERR_UNKNOWN");
    EXPECT_STREQ(afx_status_name((afx_status)-1), "AFX_ERR_UNKNOWN");
    ASSERT_NE(afx_status_string((afx_status)999), nullptr);
}

TEST(ApiVersion, MatchesMacros) {
    EXPECT_EQ(afx_version_number(), (unsigned)AFX_VERSION_NUMBER);
    EXPECT_EQ(afx_version_number(), (unsigned)(AFX_VERSION_MAJOR * 10000 + AFX_VERSION_MINOR * 100 + AFX_VERSION_PATCH));
    ASSERT_NE(afx_version_string(), nullptr);
    EXPECT_STREQ(afx_version_string(), AFX_VERSION_STRING);
    const std::string s = std::to_string(AFX_VERSION_MAJOR) + "." + std::to_string(AFX_VERSION_MINOR) + "." +
                          std::to_string(AFX_VERSION_PATCH);
    EXPECT_EQ(s, afx_version_string());
}

TEST(ApiNames, EnumNames) {
    EXPECT_STREQ(afx_window_name(AFX_WINDOW_HANN), "hann");
    EXPECT_STREQ(afx_window_name((afx_window)99), "?");
    EXPECT_STREQ(afx_feature_name((afx_feature)99), "?");
    EXPECT_STREQ(afx_backend_name((afx_backend)99), "?");
    std::set<std::string> w, f, b;
    for (int i = 0; i <= AFX_WINDOW_RECTANGULAR; i++) w.insert(afx_window_name((afx_window)i));
    for (int i = 0; i <= AFX_FEATURE_MFCC; i++) f.insert(afx_feature_name((afx_feature)i));
    for (int i = 0; i <= AFX_BACKEND_AUTO; i++) b.insert(afx_backend_name((afx_backend)i));
    EXPECT_EQ(w.size(), 5u);
    EXPECT_EQ(f.size(), 5u);
    EXPECT_EQ(b.size(), 3u);
    EXPECT_EQ(w.count("?") + f.count("?") + b.count("?"), 0u);
}

TEST(ApiNull, NullArguments) {
    afx_plan_free(nullptr);  // no-op
    afx_params p = base_params();
    char err[AFX_ERROR_MAX];
    EXPECT_EQ(afx_params_validate(nullptr, err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_params_validate(&p, nullptr, 0), AFX_OK);  // NULL err: no message wanted
    afx_plan *plan = reinterpret_cast<afx_plan *>(0x1);
    EXPECT_EQ(afx_plan_create(nullptr, &plan, err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(plan, nullptr);
    EXPECT_EQ(afx_plan_create(&p, nullptr, err, sizeof err), AFX_ERR_NULL_ARGUMENT);

    ref::PlanPtr pl = ref::make_plan(p);
    ASSERT_TRUE(pl);
    std::vector<float> x(1000, 0.25f);
    const void *clips[1] = {x.data()};
    int64_t lens[1] = {1000};
    afx_input in;
    std::memset(&in, 0, sizeof in);
    in.format = AFX_SAMPLE_F32;
    in.n_channels = 1;
    in.clips = clips;
    in.lengths = lens;
    in.n_clips = 1;
    int64_t maxf = 0;
    ASSERT_EQ(afx_plan_output_shape(pl.get(), &in, nullptr, &maxf), AFX_OK);
    std::vector<float> out(afx_plan_output_size(pl.get(), 1, maxf));
    int64_t nf[1];
    afx_output o;
    o.data = out.data();
    o.frames_stride = maxf;
    o.n_frames = nf;

    EXPECT_EQ(afx_plan_output_shape(nullptr, &in, nullptr, &maxf), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_plan_output_shape(pl.get(), nullptr, nullptr, &maxf), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_plan_execute(nullptr, &in, &o), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_plan_execute(pl.get(), nullptr, &o), AFX_ERR_NULL_ARGUMENT);
    EXPECT_GT(std::strlen(afx_plan_error(pl.get())), 0u);
    EXPECT_EQ(afx_plan_execute(pl.get(), &in, nullptr), AFX_ERR_NULL_ARGUMENT);
    afx_output o2 = o;
    o2.data = nullptr;
    EXPECT_EQ(afx_plan_execute(pl.get(), &in, &o2), AFX_ERR_NULL_ARGUMENT);
    afx_input in2 = in;
    in2.clips = nullptr;
    EXPECT_EQ(afx_plan_execute(pl.get(), &in2, &o), AFX_ERR_NULL_ARGUMENT);
    in2 = in;
    in2.lengths = nullptr;
    EXPECT_EQ(afx_plan_execute(pl.get(), &in2, &o), AFX_ERR_NULL_ARGUMENT);
    // A NULL clip with a non-zero length is refused (it is not "a clip of length 0").
    const void *nullclip[1] = {nullptr};
    in2 = in;
    in2.clips = nullclip;
    const afx_status st = afx_plan_execute(pl.get(), &in2, &o);
    EXPECT_TRUE(st == AFX_ERR_NULL_ARGUMENT || st == AFX_ERR_INVALID_INPUT) << afx_status_name(st);
    // The plan still works after all those refusals.
    EXPECT_EQ(afx_plan_execute(pl.get(), &in, &o), AFX_OK) << afx_plan_error(pl.get());
    EXPECT_EQ(nf[0], afx_plan_frames_for_length(pl.get(), 1000));
}

TEST(ApiBackend, AutoPicksCudaOnlyWithADevice) {
    afx_params p = base_params();
    const bool gpu = afx_cuda_device_count() > 0;
    p.backend = AFX_BACKEND_AUTO;
    ref::PlanPtr pl = ref::make_plan(p);
    ASSERT_TRUE(pl);
    EXPECT_EQ(afx_plan_backend(pl.get()), gpu ? AFX_BACKEND_CUDA : AFX_BACKEND_CPU);

    p.backend = AFX_BACKEND_CPU;
    ref::PlanPtr pc = ref::make_plan(p);
    ASSERT_TRUE(pc);
    EXPECT_EQ(afx_plan_backend(pc.get()), AFX_BACKEND_CPU);

    if (gpu) return;  // the CUDA plan itself is covered by test_cuda.cpp
    p.backend = AFX_BACKEND_CUDA;
    char err[AFX_ERROR_MAX] = {0};
    afx_plan *plan = reinterpret_cast<afx_plan *>(0x1);
    EXPECT_EQ(afx_plan_create(&p, &plan, err, sizeof err), AFX_ERR_BACKEND_UNAVAILABLE);
    EXPECT_EQ(plan, nullptr);
    EXPECT_GT(std::strlen(err), 0u);
}

// One absurd parameter: validate and create both refuse it with INVALID_PARAM and a message naming it.
struct BadParam {
    const char *name;       // substring the message must contain
    const char *alt_name;   // or this one (nullptr: none)
    void (*mutate)(afx_params *);
};

void PrintTo(const BadParam &b, std::ostream *os) { *os << b.name; }

class ApiInvalidParam : public ::testing::TestWithParam<BadParam> {};

TEST_P(ApiInvalidParam, RefusedWithMessage) {
    const BadParam &b = GetParam();
    afx_params p = base_params();
    b.mutate(&p);
    char err[AFX_ERROR_MAX];
    std::memset(err, 0, sizeof err);
    EXPECT_EQ(afx_params_validate(&p, err, sizeof err), AFX_ERR_INVALID_PARAM) << err;
    std::string m(err);
    EXPECT_TRUE(m.find(b.name) != std::string::npos || (b.alt_name && m.find(b.alt_name) != std::string::npos))
        << "message does not name " << b.name << ": \"" << m << "\"";
    std::memset(err, 0, sizeof err);
    afx_plan *plan = reinterpret_cast<afx_plan *>(0x1);
    EXPECT_EQ(afx_plan_create(&p, &plan, err, sizeof err), AFX_ERR_INVALID_PARAM);
    EXPECT_EQ(plan, nullptr);
    m = err;
    EXPECT_TRUE(m.find(b.name) != std::string::npos || (b.alt_name && m.find(b.alt_name) != std::string::npos))
        << "message does not name " << b.name << ": \"" << m << "\"";
    // A tiny buffer gets a truncated, NUL-terminated message and nothing is written past it.
    char small[9];
    std::memset(small, 'x', sizeof small);
    EXPECT_EQ(afx_params_validate(&p, small, 4), AFX_ERR_INVALID_PARAM);
    EXPECT_LT(std::strlen(small), 4u);
    EXPECT_EQ(small[4], 'x');
}

const BadParam kBad[] = {
    {"n_fft", nullptr, [](afx_params *p) { p->n_fft = 0; }},
    {"n_fft", nullptr, [](afx_params *p) { p->n_fft = 65537; p->win_length = 0; }},
    {"hop_length", nullptr, [](afx_params *p) { p->hop_length = -1; }},
    {"win_length", "n_fft", [](afx_params *p) { p->win_length = 513; }},
    {"win_length", nullptr, [](afx_params *p) { p->win_length = -5; }},
    {"f_max", nullptr, [](afx_params *p) { p->f_max = 8001.0f; }},
    {"f_min", "f_max", [](afx_params *p) { p->f_min = 5000.0f; p->f_max = 4000.0f; }},
    {"f_min", nullptr, [](afx_params *p) { p->f_min = -1.0f; }},
    {"n_mels", nullptr, [](afx_params *p) { p->n_fft = 64; p->win_length = 0; p->n_mels = 128; }},
    {"n_mels", nullptr, [](afx_params *p) { p->n_mels = 0; }},
    {"n_mfcc", nullptr, [](afx_params *p) { p->feature = AFX_FEATURE_MFCC; p->n_mels = 40; p->n_mfcc = 41; }},
    {"n_mfcc", nullptr, [](afx_params *p) { p->feature = AFX_FEATURE_MFCC; p->n_mfcc = 0; }},
    {"power", nullptr, [](afx_params *p) { p->power = 0.0f; }},
    {"power", nullptr, [](afx_params *p) { p->power = -2.0f; }},
    {"power", nullptr, [](afx_params *p) { p->power = NAN; }},
    {"power", nullptr, [](afx_params *p) { p->power = INFINITY; }},
    {"dither", nullptr, [](afx_params *p) { p->dither = -0.1f; }},
    {"dither", nullptr, [](afx_params *p) { p->dither = NAN; }},
    {"max_batch", nullptr, [](afx_params *p) { p->max_batch = 0; }},
    {"max_batch", nullptr, [](afx_params *p) { p->max_batch = 65537; }},
    {"max_samples", nullptr, [](afx_params *p) { p->max_samples = 0; }},
    {"sample_rate", nullptr, [](afx_params *p) { p->sample_rate = 0; }},
    {"sample_rate", nullptr, [](afx_params *p) { p->sample_rate = 999; }},
    {"input_scale", nullptr, [](afx_params *p) { p->input_scale = 0.0f; }},
    {"input_scale", nullptr, [](afx_params *p) { p->input_scale = NAN; }},
    {"preemphasis", nullptr, [](afx_params *p) { p->preemphasis = 1.5f; }},
    {"log_floor", nullptr, [](afx_params *p) { p->log_floor = 0.0f; }},
    {"log_offset", nullptr, [](afx_params *p) { p->log_offset = -1.0f; }},
    {"db_amin", nullptr, [](afx_params *p) { p->db_amin = 0.0f; }},
    {"db_ref", nullptr, [](afx_params *p) { p->db_ref = 0.0f; }},
    {"db_multiplier", nullptr, [](afx_params *p) { p->db_multiplier = 0.0f; }},
    {"freq_mask_param", nullptr, [](afx_params *p) { p->n_freq_masks = 1; p->freq_mask_param = 81; }},
    {"time_mask_param", nullptr, [](afx_params *p) { p->n_time_masks = 1; p->time_mask_param = -1; }},
    {"n_time_masks", nullptr, [](afx_params *p) { p->n_time_masks = 1025; }},
    {"cepstral_lifter", nullptr, [](afx_params *p) { p->feature = AFX_FEATURE_MFCC; p->cepstral_lifter = -1.0f; }},
    {"window", nullptr, [](afx_params *p) { p->window = (afx_window)17; }},
    {"feature", nullptr, [](afx_params *p) { p->feature = (afx_feature)17; }},
};

INSTANTIATE_TEST_SUITE_P(Api, ApiInvalidParam, ::testing::ValuesIn(kBad));

// hop_length 0 is in range (0 .. 2^24) and means win_length/4; win_length 0 means n_fft.
TEST(ApiPlan, ZeroHopRefusedWindowDefaults) {
    // afx.h: hop_length is 1 .. 2^24 (0 is refused, not a default); win_length 0 means n_fft.
    afx_params p = base_params();
    p.win_length = 0;
    p.hop_length = 0;
    p.n_fft = 400;
    char err[AFX_ERROR_MAX] = {0};
    EXPECT_EQ(afx_params_validate(&p, err, sizeof err), AFX_ERR_INVALID_PARAM);
    EXPECT_NE(std::string(err).find("hop_length"), std::string::npos) << err;
    p.hop_length = 100;
    ref::PlanPtr pl = ref::make_plan(p);
    ASSERT_TRUE(pl);
    const afx_params *q = afx_plan_params(pl.get());
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->n_fft, 400);
    EXPECT_EQ(q->win_length, 400);
    EXPECT_EQ(q->hop_length, 100);
    EXPECT_EQ(afx_plan_frames_for_length(pl.get(), 1000), 1 + 1000 / 100);
}

TEST(ApiPlan, ResolvedParamsAndShapes) {
    afx_params p = base_params();
    p.win_length = 0;
    p.hop_length = 100;
    p.f_max = -400.0f;
    p.n_fft = 400;
    EXPECT_EQ(afx_params_effective_n_fft(&p), 400);
    ref::PlanPtr pl = ref::make_plan(p);
    ASSERT_TRUE(pl);
    const afx_params *q = afx_plan_params(pl.get());
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->n_fft, 400);
    EXPECT_EQ(q->win_length, 400);
    EXPECT_EQ(q->hop_length, 100);
    EXPECT_FLOAT_EQ(q->f_max, 7600.0f);
    EXPECT_EQ(afx_plan_n_features(pl.get()), 80);

    afx_params r = base_params();
    r.round_to_power_of_two = 1;
    r.n_fft = 100;  // replaced by the next power of two >= win_length (400)
    r.f_max = 0.0f;
    EXPECT_EQ(afx_params_effective_n_fft(&r), 512);
    ref::PlanPtr pr = ref::make_plan(r);
    ASSERT_TRUE(pr);
    EXPECT_EQ(afx_plan_params(pr.get())->n_fft, 512);
    EXPECT_FLOAT_EQ(afx_plan_params(pr.get())->f_max, 8000.0f);

    afx_params s = base_params();
    s.feature = AFX_FEATURE_SPECTROGRAM;
    s.n_fft = 257;
    s.win_length = 200;
    ref::PlanPtr ps = ref::make_plan(s);
    ASSERT_TRUE(ps);
    EXPECT_EQ(afx_plan_n_features(ps.get()), 129);
    EXPECT_EQ(afx_plan_output_size(ps.get(), 3, 11), (size_t)3 * 129 * 11);

    afx_params m = base_params();
    m.feature = AFX_FEATURE_MFCC;
    m.n_mfcc = 13;
    m.mfcc_energy = 1;
    m.pooling = AFX_POOL_MEAN_STD;
    ref::PlanPtr pm = ref::make_plan(m);
    ASSERT_TRUE(pm);
    EXPECT_EQ(afx_plan_n_features(pm.get()), 13);
    EXPECT_EQ(afx_plan_output_size(pm.get(), 3, 11), (size_t)3 * 2 * 13);
    m.pooling = AFX_POOL_MEAN;
    ref::PlanPtr pm2 = ref::make_plan(m);
    ASSERT_TRUE(pm2);
    EXPECT_EQ(afx_plan_output_size(pm2.get(), 3, 11), (size_t)3 * 13);
}

TEST(ApiPlan, FramesForLengthAllFramings) {
    struct F {
        int center, snip, n_fft, win, hop;
    } cases[] = {{1, 1, 512, 400, 160}, {0, 1, 512, 400, 160}, {0, 0, 512, 400, 160},
                 {0, 1, 257, 257, 100}, {0, 1, 400, 400, 1},   {0, 0, 256, 200, 7},
                 {0, 0, 257, 257, 100}, {1, 1, 400, 300, 100}};
    for (const F &f : cases) {
        afx_params p = base_params();
        p.feature = AFX_FEATURE_SPECTROGRAM;
        p.center = f.center;
        p.snip_edges = f.snip;
        p.n_fft = f.n_fft;
        p.win_length = f.win;
        p.hop_length = f.hop;
        ref::PlanPtr pl = ref::make_plan(p);
        ASSERT_TRUE(pl);
        const ref::Cfg c = ref::resolve(p);
        for (int64_t n : {-5, 0, 1, 2, 3, 79, 80, 159, 160, 199, 200, 256, 399, 400, 401, 559, 560, 561, 16000, 48000}) {
            SCOPED_TRACE(testing::Message() << "center " << f.center << " snip " << f.snip << " n " << n);
            EXPECT_EQ(afx_plan_frames_for_length(pl.get(), n), ref::n_frames(c, n));
        }
    }
}

// The header fixes 1 + n/hop frames for center=1 whatever the parity of n_fft (torch.stft would give
// 1 + (n - 1)/hop for an odd n_fft, because it pads n_fft/2 rounded down on each side).
TEST(ApiPlan, FramesForLengthOddFftCenter) {
    afx_params p = base_params();
    p.feature = AFX_FEATURE_SPECTROGRAM;
    p.n_fft = 257;
    p.win_length = 0;
    p.hop_length = 100;
    ref::PlanPtr pl = ref::make_plan(p);
    ASSERT_TRUE(pl);
    for (int64_t n : {1, 99, 100, 101, 200, 16000}) {
        SCOPED_TRACE(testing::Message() << "n " << n);
        // 1 + (n + 2*(257/2) - 257)/hop = 1 + (n - 1)/hop, as torch.stft pads 128 on each side.
        EXPECT_EQ(afx_plan_frames_for_length(pl.get(), n), 1 + (n - 1) / 100);
    }
}

TEST(ApiPlan, ExceedsPlan) {
    afx_params p = base_params();
    p.max_batch = 2;
    p.max_samples = 1000;
    ref::PlanPtr pl = ref::make_plan(p);
    ASSERT_TRUE(pl);
    std::vector<float> x(1001, 0.1f);
    const void *clips[3] = {x.data(), x.data(), x.data()};
    int64_t lens[3] = {1000, 1000, 1000};
    afx_input in;
    std::memset(&in, 0, sizeof in);
    in.format = AFX_SAMPLE_F32;
    in.n_channels = 1;
    in.clips = clips;
    in.lengths = lens;
    int64_t maxf = 0;
    std::vector<float> out(100000, 0.0f);
    int64_t nf[3];
    afx_output o;
    o.data = out.data();
    o.n_frames = nf;

    in.n_clips = 2;
    ASSERT_EQ(afx_plan_output_shape(pl.get(), &in, nullptr, &maxf), AFX_OK);
    EXPECT_EQ(maxf, afx_plan_frames_for_length(pl.get(), 1000));
    o.frames_stride = maxf;
    EXPECT_EQ(afx_plan_execute(pl.get(), &in, &o), AFX_OK) << afx_plan_error(pl.get());

    // Batch larger than max_batch.
    in.n_clips = 3;
    EXPECT_EQ(afx_plan_output_shape(pl.get(), &in, nullptr, &maxf), AFX_ERR_EXCEEDS_PLAN);
    EXPECT_EQ(afx_plan_execute(pl.get(), &in, &o), AFX_ERR_EXCEEDS_PLAN);
    EXPECT_GT(std::strlen(afx_plan_error(pl.get())), 0u);

    // Clip longer than max_samples.
    in.n_clips = 2;
    lens[1] = 1001;
    EXPECT_EQ(afx_plan_output_shape(pl.get(), &in, nullptr, &maxf), AFX_ERR_EXCEEDS_PLAN);
    EXPECT_EQ(afx_plan_execute(pl.get(), &in, &o), AFX_ERR_EXCEEDS_PLAN);
    EXPECT_GT(std::strlen(afx_plan_error(pl.get())), 0u);

    // Output stride smaller than the longest clip's frame count.
    lens[1] = 1000;
    ASSERT_EQ(afx_plan_output_shape(pl.get(), &in, nullptr, &maxf), AFX_OK);
    o.frames_stride = maxf - 1;
    EXPECT_EQ(afx_plan_execute(pl.get(), &in, &o), AFX_ERR_EXCEEDS_PLAN);
    EXPECT_GT(std::strlen(afx_plan_error(pl.get())), 0u);

    // Bad batch shapes that are the input's fault.
    o.frames_stride = maxf;
    lens[0] = -1;
    EXPECT_EQ(afx_plan_execute(pl.get(), &in, &o), AFX_ERR_INVALID_INPUT);
    lens[0] = 1000;
    in.n_channels = 0;
    EXPECT_EQ(afx_plan_execute(pl.get(), &in, &o), AFX_ERR_INVALID_INPUT);
    in.n_channels = 65;
    EXPECT_EQ(afx_plan_execute(pl.get(), &in, &o), AFX_ERR_INVALID_INPUT);
    in.n_channels = 1;
    in.n_clips = 0;
    EXPECT_NE(afx_plan_execute(pl.get(), &in, &o), AFX_OK);
    in.n_clips = 2;
    EXPECT_EQ(afx_plan_execute(pl.get(), &in, &o), AFX_OK) << afx_plan_error(pl.get());
}

// A NaN or Inf sample refuses only its clip; the others are computed exactly as alone.
TEST(ApiInvalidInput, NonFiniteClipRefusedOthersComputed) {
    for (afx_feature feat : {AFX_FEATURE_LOGMEL, AFX_FEATURE_DB}) {
        const uint64_t seed = 1234 + (uint64_t)feat;
        SCOPED_TRACE(testing::Message() << "seed " << seed << " feature " << feat);
        afx_params p = base_params();
        p.feature = feat;
        std::vector<std::vector<float>> clips = {ref::uniform_noise(5000, seed), ref::uniform_noise(3000, seed + 1),
                                                 ref::uniform_noise(4000, seed + 2, 0.01),
                                                 ref::uniform_noise(2000, seed + 3)};
        for (auto &c : clips) ASSERT_TRUE(ref::any_nonzero(c));
        clips[1][1234] = NAN;
        clips[3][0] = INFINITY;
        const uint64_t first = 1000;
        ref::Result r = ref::run(p, clips, first);
        ASSERT_EQ(r.st, AFX_ERR_INVALID_INPUT);
        EXPECT_NE(r.err.find("1001"), std::string::npos) << "message should name clip 1 (global 1001): " << r.err;
        EXPECT_EQ(r.nf[1], -1);
        EXPECT_EQ(r.nf[3], -1);
        for (int c : {1, 3}) {
            int nonzero = 0;
            for (int64_t t = 0; t < r.stride; t++)
                for (int f = 0; f < r.nfeat; f++) nonzero += r.at(c, t, f) != 0.0f;
            EXPECT_EQ(nonzero, 0) << "refused clip " << c << " output not zero";
        }
        for (int c : {0, 2}) {
            ref::Result alone = ref::run(p, {clips[(size_t)c]}, first + (uint64_t)c);
            ASSERT_EQ(alone.st, AFX_OK) << alone.err;
            ASSERT_EQ(r.nf[(size_t)c], alone.nf[0]);
            const double d = ref::max_abs_diff(r.clip(c), alone.clip(0));
            EXPECT_LE(d, 1e-5) << "clip " << c << " differs from its solo run";
            ref::expect_padding_zero(r, c);
        }
        EXPECT_GT(std::strlen(r.err.c_str()), 0u);
    }
}

}  // namespace

// afx_enum_name / afx_enum_value: every name round-trips, names are unique within a kind, the lists
// match the enum ranges the header documents, and unknown kinds, values and names are refused.
TEST(ApiNames, EnumNamesRoundTrip) {
    const int counts[AFX_ENUM_KIND_COUNT_] = {3, 5, 5, 2, 3, 2, 3, 4, 2, 3, 2, 2, 3, 5};
    for (int k = 0; k < AFX_ENUM_KIND_COUNT_; k++) {
        SCOPED_TRACE(testing::Message() << "kind " << k);
        const afx_enum_kind kind = (afx_enum_kind)k;
        std::set<std::string> seen;
        for (int v = 0; v < counts[k]; v++) {
            const char *name = afx_enum_name(kind, v);
            ASSERT_NE(name, nullptr) << "value " << v;
            EXPECT_TRUE(seen.insert(name).second) << "duplicate name " << name;
            EXPECT_EQ(afx_enum_value(kind, name), v) << name;
        }
        EXPECT_EQ(afx_enum_name(kind, counts[k]), nullptr);
        EXPECT_EQ(afx_enum_name(kind, -1), nullptr);
        EXPECT_EQ(afx_enum_value(kind, "no-such-name"), -1);
        EXPECT_EQ(afx_enum_value(kind, nullptr), -1);
    }
    EXPECT_EQ(afx_enum_name(AFX_ENUM_KIND_COUNT_, 0), nullptr);
    EXPECT_EQ(afx_enum_value(AFX_ENUM_WINDOW, "povey"), (int)AFX_WINDOW_POVEY);
    EXPECT_EQ(afx_enum_value(AFX_ENUM_POOLING, "meanstd"), (int)AFX_POOL_MEAN_STD);
    EXPECT_EQ(afx_enum_value(AFX_ENUM_LOG_TYPE, "db"), (int)AFX_LOG_DB);
    EXPECT_EQ(afx_enum_value(AFX_ENUM_WINDOW, "Hann"), -1);  // exact, case-sensitive
    EXPECT_STREQ(afx_window_name(AFX_WINDOW_BLACKMAN), afx_enum_name(AFX_ENUM_WINDOW, AFX_WINDOW_BLACKMAN));
}
