// The mel table: built over each filter's support (O(non-zeros)) and bounded by AFX_MEL_WEIGHTS_MAX.
// The plan's dense weights are compared element by element with the float64 filterbanks of tests/ref.h
// (torchaudio/librosa/Kaldi formulas) at large n_fft, where the old dense build took minutes; and the
// n_fft 65536 / n_mels 32769 table (4.3 GB) is refused by validation with a message naming the sizes.
#include "ref.h"

extern "C" {
#include "internal.h"  // plan->mel_weights, mel_lo, mel_hi (white-box: the table itself)
}

namespace {

struct TableCase {
    afx_mel_scale scale;
    afx_mel_norm norm;
    int sr, n_fft, n_mels;
    float f_min, f_max;
};

void PrintTo(const TableCase &m, std::ostream *os) {
    *os << "scale " << m.scale << " norm " << m.norm << " sr " << m.sr << " n_fft " << m.n_fft << " n_mels " << m.n_mels;
}

class MelTable : public ::testing::TestWithParam<TableCase> {};

TEST_P(MelTable, SupportBuildEqualsFloat64Reference) {
    const TableCase &m = GetParam();
    afx_params p;
    afx_params_init(&p);
    p.max_batch = 1;
    p.max_samples = 1;
    p.feature = AFX_FEATURE_MEL;
    p.sample_rate = m.sr;
    p.n_fft = m.n_fft;
    p.win_length = 0;
    p.hop_length = m.n_fft / 4;
    p.n_mels = m.n_mels;
    p.f_min = m.f_min;
    p.f_max = m.f_max;
    p.mel_scale = m.scale;
    p.mel_norm = m.norm;
    ref::PlanPtr plan = ref::make_plan(p);
    ASSERT_TRUE(plan);
    const ref::Mat fb = ref::mel_fb(m.scale, m.norm, m.sr, m.n_fft, m.n_mels, m.f_min, m.f_max);
    const int n_freq = m.n_fft / 2 + 1;
    double peak = 0;
    for (const ref::Vec &r : fb)
        for (double v : r) peak = std::max(peak, v);
    ASSERT_GT(peak, 0.0);
    size_t nonzero = 0, bad = 0;
    for (int i = 0; i < m.n_mels; i++) {
        int lo = n_freq, hi = 0;
        for (int k = 0; k < n_freq; k++) {
            const double want = fb[(size_t)i][(size_t)k];
            const float got = plan->mel_weights[(size_t)i * n_freq + k];
            // Kaldi's reference leaves out the Nyquist bin (MelBanks loops over num_fft_bins = n_fft/2); the
            // triangle formula gives it weight 0 there anyway unless f_max is above it, which validation refuses.
            if (std::fabs((double)got - want) > 1e-6 * peak) {
                if (bad++ < 5)
                    ADD_FAILURE() << "filter " << i << " bin " << k << ": " << got << " vs reference " << want;
            }
            if (got > 0.0f) {
                nonzero++;
                lo = std::min(lo, k);
                hi = k + 1;
            }
        }
        // The CPU's sparse range covers exactly the non-zero weights.
        EXPECT_EQ(plan->mel_lo[i], lo < hi ? lo : 0) << "filter " << i;
        EXPECT_EQ(plan->mel_hi[i], hi) << "filter " << i;
    }
    EXPECT_EQ(bad, 0u);
    EXPECT_GT(nonzero, (size_t)m.n_mels);
}

const TableCase kTables[] = {
    {AFX_MEL_HTK, AFX_MEL_NORM_NONE, 16000, 65536, 128, 0.0f, 0.0f},
    {AFX_MEL_SLANEY, AFX_MEL_NORM_SLANEY, 22050, 32768, 256, 0.0f, 0.0f},
    {AFX_MEL_KALDI, AFX_MEL_NORM_NONE, 16000, 16384, 511, 20.0f, -400.0f},
    {AFX_MEL_HTK, AFX_MEL_NORM_SLANEY, 48000, 4096, 256, 30.0f, 20000.0f},
    {AFX_MEL_SLANEY, AFX_MEL_NORM_NONE, 44100, 2048, 128, 0.0f, 0.0f},
};

INSTANTIATE_TEST_SUITE_P(Mel, MelTable, ::testing::ValuesIn(kTables));

TEST(MelTableLimit, HugeTableRefusedWithSizes) {
    afx_params p;
    afx_params_init(&p);
    p.n_fft = 65536;
    p.win_length = 0;
    p.n_mels = 32769;
    char err[AFX_ERROR_MAX] = "";
    ASSERT_EQ(afx_params_validate(&p, err, sizeof err), AFX_ERR_INVALID_PARAM);
    const std::string e(err);
    for (const char *want : {"n_mels=32769", "n_fft=65536", "AFX_MEL_WEIGHTS_MAX", "1073807361"})
        EXPECT_NE(e.find(want), std::string::npos) << "missing " << want << " in: " << e;
    afx_plan *plan = nullptr;
    EXPECT_EQ(afx_plan_create(&p, &plan, err, sizeof err), AFX_ERR_INVALID_PARAM);
    EXPECT_EQ(plan, nullptr);
    // The largest table allowed at n_fft 65536 (511 x 32769 weights) is accepted; 512 mels are not.
    p.n_mels = 511;
    EXPECT_EQ(afx_params_validate(&p, err, sizeof err), AFX_OK) << err;
    p.n_mels = 512;
    EXPECT_EQ(afx_params_validate(&p, err, sizeof err), AFX_ERR_INVALID_PARAM);
    // The spectrogram has no mel table: any n_mels is ignored.
    p.feature = AFX_FEATURE_SPECTROGRAM;
    p.n_mels = 32769;
    EXPECT_EQ(afx_params_validate(&p, err, sizeof err), AFX_OK) << err;
}

}  // namespace
