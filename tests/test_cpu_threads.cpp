// cpu_threads: the CPU backend splits a batch's clips and a long clip's frames across the plan's threads,
// and the output must be bit-identical to cpu_threads = 1 (afx.h), for every stage that needs a whole clip
// (top_db, log_range, normalization, mask mean, pooling), every layout and dtype, ragged and empty clips,
// a refused clip, and batches that need several waves of the feature arena.
#include "ref.h"

namespace {

struct Out {
    afx_status st;
    std::vector<uint8_t> bytes;
    std::vector<int64_t> nf;
    std::string err;
};

Out run_threads(afx_params p, int threads, const std::vector<std::vector<float>> &clips, uint64_t first) {
    p.cpu_threads = threads;
    p.max_batch = (int)clips.size();
    Out o;
    ref::PlanPtr plan = ref::make_plan(p);
    if (!plan) {
        o.st = AFX_ERR_INTERNAL;
        return o;
    }
    std::vector<const void *> ptrs;
    std::vector<int64_t> lens;
    for (const auto &c : clips) {
        ptrs.push_back(c.empty() ? nullptr : c.data());
        lens.push_back((int64_t)c.size());
    }
    afx_input in{AFX_SAMPLE_F32, 1, ptrs.data(), lens.data(), (int)clips.size(), first};
    int64_t maxf = 0;
    EXPECT_EQ(afx_plan_output_shape(plan.get(), &in, nullptr, &maxf), AFX_OK);
    const size_t es = p.output_dtype == AFX_DTYPE_F32 ? 4 : 2;
    o.bytes.assign(afx_plan_output_size(plan.get(), in.n_clips, maxf) * es + 1, 0xA5);
    o.nf.assign(clips.size(), -7);
    afx_output out{o.bytes.data(), maxf, o.nf.data()};
    o.st = afx_plan_execute(plan.get(), &in, &out);
    o.err = afx_plan_error(plan.get());
    return o;
}

struct ThreadCase {
    const char *name;
    void (*set)(afx_params *);
};

void PrintTo(const ThreadCase &c, std::ostream *os) { *os << c.name; }

const ThreadCase kCases[] = {
    {"logmel", [](afx_params *) {}},
    {"spectrogram_tf_power1", [](afx_params *p) {
         p->feature = AFX_FEATURE_SPECTROGRAM;
         p->layout = AFX_LAYOUT_TF;
         p->power = 1.0f;
     }},
    {"db_topdb_feature_norm", [](afx_params *p) {
         p->feature = AFX_FEATURE_DB;
         p->top_db = 40.0f;
         p->normalize = AFX_NORM_FEATURE;
     }},
    {"logmel_range_utterance_unbiased_masks_mean", [](afx_params *p) {
         p->log_base = AFX_LOG_LOG10;
         p->log_range = 4.0f;
         p->out_scale = 0.25f;
         p->out_bias = 1.0f;
         p->normalize = AFX_NORM_UTTERANCE;
         p->norm_unbiased = 1;
         p->n_time_masks = 3;
         p->time_mask_param = 40;
         p->n_freq_masks = 2;
         p->freq_mask_param = 10;
         p->mask_value = AFX_MASK_MEAN;
     }},
    {"mfcc_kaldi_minmax_f16", [](afx_params *p) {
         char err[AFX_ERROR_MAX];
         afx_params_preset(p, AFX_PRESET_KALDI, AFX_FEATURE_MFCC, err, sizeof err);
         p->dither = 1.0f;
         p->normalize = AFX_NORM_MINMAX;
         p->output_dtype = AFX_DTYPE_F16;
     }},
    {"mfcc_librosa_pool_meanstd", [](afx_params *p) {
         char err[AFX_ERROR_MAX];
         afx_params_preset(p, AFX_PRESET_LIBROSA, AFX_FEATURE_MFCC, err, sizeof err);
         p->sample_rate = 16000;
         p->pooling = AFX_POOL_MEAN_STD;
     }},
    {"mel_nosnip_feature_norm_novars_pool_mean_bf16", [](afx_params *p) {
         p->feature = AFX_FEATURE_MEL;
         p->center = 0;
         p->snip_edges = 0;
         p->normalize = AFX_NORM_FEATURE;
         p->norm_vars = 0;
         p->pooling = AFX_POOL_MEAN;
         p->output_dtype = AFX_DTYPE_BF16;
     }},
};

class CpuThreads : public ::testing::TestWithParam<ThreadCase> {};

// A ragged batch: a long clip of many blocks, short ones, an empty one, one shorter than a frame and one
// refused for a NaN sample; every thread count gives the same bytes and the same refusals.
TEST_P(CpuThreads, BitIdenticalToOneThread) {
    const uint64_t seed = 4242;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    afx_params p = ref::base_params();
    p.max_samples = 16000 * 20;
    GetParam().set(&p);
    p.max_samples = 16000 * 20;
    std::vector<std::vector<float>> clips = {ref::uniform_noise(16000 * 20, seed), ref::uniform_noise(16000, seed + 1),
                                             {},
                                             ref::uniform_noise(77, seed + 2),
                                             ref::uniform_noise(16000 * 3 + 5, seed + 3, 0.01),
                                             ref::uniform_noise(5000, seed + 4)};
    for (size_t i = 0; i < clips[0].size(); i++)  // a chirp so the clip statistics vary over time
        clips[0][i] += (float)(0.3 * std::sin(2 * ref::kPi * (100.0 + 0.02 * (double)i) * (double)i / 16000.0));
    clips[5][321] = NAN;
    const Out one = run_threads(p, 1, clips, 77);
    ASSERT_EQ(one.st, AFX_ERR_INVALID_INPUT) << one.err;  // clip 5 only
    ASSERT_EQ(one.nf[5], -1);
    for (int c = 0; c < 5; c++) ASSERT_GE(one.nf[(size_t)c], 0) << one.err;
    ASSERT_GT(one.nf[0], 32 * 8) << "the long clip must span many blocks";
    bool any = false;
    for (size_t i = 0; i + 1 < one.bytes.size(); i++) any = any || one.bytes[i] != 0;
    ASSERT_TRUE(any);
    for (int threads : {2, 3, 8, 0}) {
        const Out many = run_threads(p, threads, clips, 77);
        EXPECT_EQ(many.st, one.st) << "cpu_threads=" << threads;
        EXPECT_EQ(many.err, one.err) << "cpu_threads=" << threads;
        EXPECT_EQ(many.nf, one.nf) << "cpu_threads=" << threads;
        ASSERT_EQ(many.bytes.size(), one.bytes.size());
        size_t diff = 0;
        for (size_t i = 0; i < one.bytes.size(); i++) diff += many.bytes[i] != one.bytes[i];
        EXPECT_EQ(diff, 0u) << "cpu_threads=" << threads << ": bytes differ from cpu_threads=1";
    }
}

INSTANTIATE_TEST_SUITE_P(Cpu, CpuThreads, ::testing::ValuesIn(kCases));

// More clips than one wave of the arena holds (256 clips per wave): the result of each clip is the same
// as the clip alone, on any thread count, so the waves do not leak into each other.
TEST(CpuThreadsWaves, ManyClipsEqualAlone) {
    const uint64_t seed = 99;
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    afx_params p = ref::base_params();
    p.normalize = AFX_NORM_FEATURE;
    p.max_samples = 4000;
    std::vector<std::vector<float>> clips;
    for (int c = 0; c < 300; c++) clips.push_back(ref::uniform_noise(500 + 11 * c, seed + (uint64_t)c));
    const Out one = run_threads(p, 1, clips, 0);
    ASSERT_EQ(one.st, AFX_OK) << one.err;
    const Out four = run_threads(p, 4, clips, 0);
    ASSERT_EQ(four.st, AFX_OK) << four.err;
    EXPECT_TRUE(four.bytes == one.bytes) << "cpu_threads=4 differs from cpu_threads=1";
    const int64_t stride = *std::max_element(one.nf.begin(), one.nf.end());
    const int nfeat = p.n_mels;
    for (int c : {0, 255, 256, 299}) {
        const Out alone = run_threads(p, 1, {clips[(size_t)c]}, (uint64_t)c);
        ASSERT_EQ(alone.st, AFX_OK);
        ASSERT_EQ(alone.nf[0], one.nf[(size_t)c]);
        const float *a = reinterpret_cast<const float *>(alone.bytes.data());
        const float *b = reinterpret_cast<const float *>(one.bytes.data()) + (size_t)c * nfeat * stride;
        int differ = 0;
        for (int f = 0; f < nfeat; f++)
            for (int64_t t = 0; t < alone.nf[0]; t++) differ += a[(size_t)f * alone.nf[0] + t] != b[(size_t)f * stride + t];
        EXPECT_EQ(differ, 0) << "clip " << c << " differs from its solo run";
    }
}

// cpu_threads is validated (0 .. 1024) and settable by name.
TEST(CpuThreadsParam, RangeAndByName) {
    afx_params p;
    afx_params_init(&p);
    EXPECT_EQ(p.cpu_threads, 1);
    char err[AFX_ERROR_MAX];
    ASSERT_EQ(afx_params_set(&p, "cpu_threads", "0", err, sizeof err), AFX_OK);
    EXPECT_EQ(afx_params_validate(&p, err, sizeof err), AFX_OK) << err;
    p.cpu_threads = -1;
    EXPECT_EQ(afx_params_validate(&p, err, sizeof err), AFX_ERR_INVALID_PARAM);
    EXPECT_NE(std::string(err).find("cpu_threads"), std::string::npos) << err;
    p.cpu_threads = 1025;
    EXPECT_EQ(afx_params_validate(&p, err, sizeof err), AFX_ERR_INVALID_PARAM);
}

}  // namespace

#include <sys/wait.h>
#include <unistd.h>

namespace {

// A process that forks after making a threaded plan (a data-loader worker) keeps using the plan in the
// child, where the pool's threads do not exist: the call must complete there, with the same bytes.
TEST(CpuThreadsFork, ChildOfForkRunsThePlan) {
    afx_params p = ref::base_params();
    p.cpu_threads = 2;
    p.normalize = AFX_NORM_FEATURE;
    ref::PlanPtr plan = ref::make_plan(p);
    ASSERT_TRUE(plan);
    std::vector<float> clip = ref::uniform_noise(16000 * 3, 5);
    const std::vector<const void *> ptrs = {clip.data()};
    const std::vector<int64_t> lens = {(int64_t)clip.size()};
    ref::Result parent = ref::run_plan(plan.get(), ptrs, lens, AFX_SAMPLE_F32, 1, 0);
    ASSERT_EQ(parent.st, AFX_OK) << parent.err;
    fflush(nullptr);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {  // child: no GoogleTest assertions here, only an exit status
        alarm(60);    // a hang would be the bug: fail instead of waiting forever
        ref::Result child = ref::run_plan(plan.get(), ptrs, lens, AFX_SAMPLE_F32, 1, 0);
        int ok = child.st == AFX_OK && child.out == parent.out && child.nf == parent.nf;
        afx_plan_free(plan.release());
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child did not exit normally (signal " << WTERMSIG(status) << ")";
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child's output differs from the parent's";
    // The parent's pool still works after the fork.
    ref::Result again = ref::run_plan(plan.get(), ptrs, lens, AFX_SAMPLE_F32, 1, 0);
    EXPECT_TRUE(again.out == parent.out);
}

}  // namespace
