// The `afx` command-line tool, run as a separate process. Oracles: the library itself, called
// in-process with the same parameters set field by field (afx_audio_load_file + afx_plan_execute),
// an independent .npy reader written from NumPy's format specification, and NumPy when available.
#include "cli_util.h"

#ifdef AFX_CLI_PATH

namespace {

using namespace afx_test;
namespace fs = std::filesystem;

// ------------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------------

TEST(CliExtract, DefaultLogMelMatchesLibraryBitExact) {
    auto clips = pick_clips(4);
    ASSERT_GE(clips.size(), 3u) << "need example clips in " AFX_EXAMPLES_DIR;
    expect_matches_library(defaults(), {}, clips);
}

TEST(CliExtract, DbLayoutTfAndOptionsMatchLibrary) {
    auto clips = pick_clips(4);
    ASSERT_GE(clips.size(), 3u);
    afx_params p = defaults();
    p.sample_rate = 22050;
    p.feature = AFX_FEATURE_DB;
    p.layout = AFX_LAYOUT_TF;
    p.n_fft = 1024;
    p.win_length = 800;
    p.hop_length = 256;
    p.window = AFX_WINDOW_BLACKMAN;
    p.pad_mode = AFX_PAD_CONSTANT;
    p.power = 1.0f;
    p.n_mels = 64;
    p.f_min = 30.0f;
    p.f_max = 9000.0f;
    p.mel_scale = AFX_MEL_SLANEY;
    p.mel_norm = AFX_MEL_NORM_SLANEY;
    p.db_multiplier = 20.0f;
    p.db_ref = 0.5f;
    p.db_amin = 1e-5f;
    p.top_db = 60.0f;
    p.normalize = AFX_NORM_MINMAX;
    expect_matches_library(p,
                           {"--sample-rate", "22050", "--feature", "db", "--layout", "tf", "--n-fft", "1024",
                            "--win-length", "800", "--hop-length", "256", "--window", "blackman", "--pad-mode",
                            "constant", "--power", "1", "--n-mels", "64", "--f-min", "30", "--f-max", "9000",
                            "--mel-scale", "slaney", "--mel-norm", "slaney", "--db-multiplier", "20", "--ref",
                            "0.5", "--amin", "1e-5", "--top-db", "60", "--normalize", "minmax"},
                           clips);
}

TEST(CliExtract, KaldiStyleMfccWithDitherAndMasksMatchesLibrary) {
    auto clips = pick_clips(3);
    ASSERT_GE(clips.size(), 3u);
    afx_params p = defaults();
    p.feature = AFX_FEATURE_MFCC;
    p.center = 0;
    p.snip_edges = 0;
    p.window = AFX_WINDOW_POVEY;
    p.window_periodic = 0;
    p.round_to_power_of_two = 1;
    p.win_length = 400;
    p.input_scale = 32768.0f;
    p.remove_dc_offset = 1;
    p.preemphasis = 0.97f;
    p.dither = 1.0f;
    p.dither_seed = 7;
    p.mask_seed = 7;
    p.mel_scale = AFX_MEL_KALDI;
    p.n_mels = 23;
    p.f_min = 20.0f;
    p.f_max = -400.0f;
    p.n_mfcc = 13;
    p.mfcc_log = AFX_LOG_LN;
    p.log_floor = 1e-6f;
    p.log_offset = 1e-6f;
    p.cepstral_lifter = 22.0f;
    p.mfcc_energy = 1;
    p.raw_energy = 0;
    p.energy_floor = 1.0f;
    p.normalize = AFX_NORM_FEATURE;
    p.norm_vars = 0;
    p.norm_eps = 1e-6f;
    p.n_time_masks = 2;
    p.time_mask_param = 10;
    p.n_freq_masks = 1;
    p.freq_mask_param = 4;
    p.mask_value = AFX_MASK_MEAN;
    expect_matches_library(p,
                           {"--feature", "mfcc", "--no-center", "--no-snip-edges", "--window", "povey",
                            "--symmetric-window", "--round-pow2", "--win-length", "400", "--int16-scale",
                            "--remove-dc", "--preemphasis", "0.97", "--dither", "1", "--seed", "7", "--mel-scale",
                            "kaldi", "--n-mels", "23", "--f-min", "20", "--f-max", "-400", "--n-mfcc", "13",
                            "--mfcc-log", "ln", "--log-floor", "1e-6", "--log-offset", "1e-6", "--lifter", "22",
                            "--mfcc-energy", "--no-raw-energy", "--energy-floor", "1", "--normalize", "feature",
                            "--no-norm-vars", "--norm-eps", "1e-6", "--time-masks", "2", "--time-mask-param",
                            "10", "--freq-masks", "1", "--freq-mask-param", "4", "--mask-value", "mean"},
                           clips);
}

TEST(CliExtract, SpectrogramLogMelLog10AndInputScaleMatchLibrary) {
    auto clips = pick_clips(3);
    ASSERT_GE(clips.size(), 3u);
    afx_params p = defaults();
    p.feature = AFX_FEATURE_LOGMEL;
    p.log_base = AFX_LOG_LOG10;
    p.window = AFX_WINDOW_HAMMING;
    p.input_scale = 0.25f;
    p.sample_rate = 8000;
    p.n_fft = 256;
    p.win_length = 0;
    p.hop_length = 80;
    p.n_mels = 40;
    p.normalize = AFX_NORM_UTTERANCE;
    expect_matches_library(p,
                           {"--log", "log10", "--window", "hamming", "--input-scale", "0.25", "--sample-rate",
                            "8000", "--n-fft", "256", "--win-length", "0", "--hop-length", "80", "--n-mels", "40",
                            "--normalize", "utterance", "--periodic-window", "--center", "--snip-edges"},
                           clips);

    afx_params s = defaults();
    s.feature = AFX_FEATURE_SPECTROGRAM;
    s.layout = AFX_LAYOUT_TF;
    s.window = AFX_WINDOW_RECTANGULAR;
    expect_matches_library(s, {"--feature", "spectrogram", "--layout", "tf", "--window", "rectangular"}, clips);
}

// --preset applies afx_params_preset for the --feature given anywhere on the line, then every other
// option overrides it, wherever it appears.
TEST(CliPreset, PresetThenOverridesMatchLibrary) {
    auto clips = pick_clips(3);
    ASSERT_GE(clips.size(), 3u);
    afx_params p;
    char err[AFX_ERROR_MAX] = "";
    ASSERT_EQ(afx_params_preset(&p, AFX_PRESET_KALDI, AFX_FEATURE_MFCC, err, sizeof err), AFX_OK) << err;
    p.dither = 0.0f;
    p.n_mels = 30;
    p.mfcc_energy = 0;
    expect_matches_library(p, {"--dither", "0", "--preset", "kaldi", "--n-mels", "30", "--no-mfcc-energy",
                               "--feature", "mfcc"},
                           clips);
    ASSERT_EQ(afx_params_preset(&p, AFX_PRESET_WHISPER, AFX_FEATURE_LOGMEL, err, sizeof err), AFX_OK) << err;
    p.n_mels = 128;
    expect_matches_library(p, {"--preset", "whisper", "--n-mels", "128"}, clips);
    ASSERT_EQ(afx_params_preset(&p, AFX_PRESET_TORCHAUDIO, AFX_FEATURE_DB, err, sizeof err), AFX_OK) << err;
    expect_matches_library(p, {"--feature", "db", "--preset", "torchaudio"}, clips);
    ASSERT_EQ(afx_params_preset(&p, AFX_PRESET_TF, AFX_FEATURE_MFCC, err, sizeof err), AFX_OK) << err;
    p.dct_norm = AFX_DCT_ORTHO;
    p.layout = AFX_LAYOUT_FT;
    expect_matches_library(p, {"--preset", "tf", "--feature", "mfcc", "--dct-norm", "ortho", "--layout", "ft"}, clips);
}

TEST(CliExtract, NormUnbiasedMatchesLibrary) {
    auto clips = pick_clips(2);
    ASSERT_GE(clips.size(), 2u);
    afx_params p = defaults();
    p.normalize = AFX_NORM_FEATURE;
    p.norm_unbiased = 1;
    expect_matches_library(p, {"--normalize", "feature", "--norm-unbiased"}, clips);
    p.norm_unbiased = 0;
    expect_matches_library(p, {"--norm-unbiased", "--normalize", "feature", "--no-norm-unbiased"}, clips);
}

// --max-duration reaches the loader: a clip longer than the limit fails with its name and the limit, the
// others are written, and 0 lifts the limit.
TEST(CliExtract, MaxDurationRefusesLongerClips) {
    auto clips = pick_clips(2);
    ASSERT_GE(clips.size(), 2u);
    TempDir t;
    const fs::path out = t.path() / "o";
    RunResult r = run_afx({"extract", "-q", "--max-duration", "0.001", clips[0].string(), "-o", out.string()}, t.path());
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find(clips[0].filename().string()), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("max_duration_seconds = 0.001"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(npy_path(out, clips[0])));
    r = run_afx({"extract", "-q", "--max-duration", "0", clips[0].string(), "-o", out.string()}, t.path());
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(fs::exists(npy_path(out, clips[0])));
    r = run_afx({"extract", "-q", "--max-duration", "-1", clips[0].string(), "-o", out.string()}, t.path());
    EXPECT_EQ(r.code, 2) << r.err;
}

TEST(CliPreset, UnknownOrUnsupportedPresetExit2) {
    auto clips = pick_clips(1);
    ASSERT_GE(clips.size(), 1u);
    TempDir t;
    const fs::path out = t.path() / "out";
    RunResult r = run_afx({"extract", "--preset", "essentia", clips[0].string(), "-o", out.string()}, t.path());
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("librosa|torchaudio|kaldi|whisper|tf"), std::string::npos) << r.err;
    r = run_afx({"extract", "--preset", "whisper", "--feature", "mfcc", clips[0].string(), "-o", out.string()},
                t.path());
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("whisper"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("mfcc"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
}

TEST(CliExtract, PoolingWritesOneDimensionalVectors) {
    auto clips = pick_clips(3);
    ASSERT_GE(clips.size(), 3u);
    afx_params p = defaults();
    p.pooling = AFX_POOL_MEAN;
    expect_matches_library(p, {"--pool", "mean"}, clips);
    p.pooling = AFX_POOL_MEAN_STD;
    p.feature = AFX_FEATURE_MFCC;
    expect_matches_library(p, {"--pool", "meanstd", "--feature", "mfcc"}, clips);

    // Explicit length check, independent of the reference helper.
    TempDir t;
    RunResult r = run_afx({"extract", "-q", "--pool", "meanstd", "--n-mels", "32", clips[0].string(), "-o",
                           (t.path() / "o").string()},
                          t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    Npy npy;
    std::string why;
    ASSERT_TRUE(read_npy(npy_path(t.path() / "o", clips[0]), &npy, &why)) << why;
    EXPECT_EQ(npy.shape, std::vector<int64_t>{64});
}

TEST(CliExtract, BatchSizeIsInvisible) {
    auto clips = example_clips();
    ASSERT_GE(clips.size(), 8u);
    TempDir t;
    // Dither and masks are keyed by the global clip index: batching must not change them.
    const std::vector<std::string> opts = {"--dither", "0.5", "--seed", "11", "--time-masks", "2",
                                           "--time-mask-param", "8", "--freq-masks", "2", "--freq-mask-param", "6"};
    std::map<std::string, std::vector<unsigned char>> first;
    for (const char *bs : {"1", "7", "16"}) {
        SCOPED_TRACE(std::string("--batch-size ") + bs);
        const fs::path out = t.path() / (std::string("bs") + bs);
        RunResult r = run_afx(concat(concat({"extract", "-q", "--batch-size", bs}, opts),
                                     concat(strings(clips), {"-o", out.string()})),
                              t.path());
        ASSERT_EQ(r.code, 0) << r.err;
        for (const auto &c : clips) {
            auto bytes = read_bytes(npy_path(out, c));
            ASSERT_FALSE(bytes.empty()) << c;
            auto it = first.find(c.stem().string());
            if (it == first.end())
                first[c.stem().string()] = bytes;
            else
                EXPECT_TRUE(bytes == it->second) << c << " differs between batch sizes";
        }
    }
}

TEST(CliExtract, LongClipGrowsPlanAndEmptyClipHasZeroFrames) {
    auto clips = pick_clips(2);
    ASSERT_GE(clips.size(), 2u);
    TempDir t;
    // 75 s at 16 kHz: longer than any plan a CLI would start with for short clips.
    std::vector<int16_t> s(16000 * 75);
    uint32_t x = 12345;
    for (size_t i = 0; i < s.size(); i++) {
        x = x * 1664525u + 1013904223u;
        s[i] = (int16_t)(3000.0 * std::sin(0.01 * (double)i * (1.0 + (double)i / (double)s.size())) +
                         (double)((int)(x >> 20) - 2048));
    }
    const fs::path long_wav = t.path() / "long.wav";
    write_wav16(long_wav, s, 16000);
    const fs::path empty_wav = t.path() / "empty.wav";
    write_wav16(empty_wav, {}, 16000);

    // Short, long, short: the plan must grow in the middle of the batch run.
    std::vector<fs::path> inputs = {clips[0], long_wav, clips[1]};
    expect_matches_library(defaults(), {"--batch-size", "1"}, inputs);
    expect_matches_library(defaults(), {}, inputs);

    const fs::path out = t.path() / "o";
    RunResult r = run_afx({"extract", empty_wav.string(), clips[0].string(), "-o", out.string()}, t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    Npy npy;
    std::string why;
    ASSERT_TRUE(read_npy(out / "empty.npy", &npy, &why)) << why;
    EXPECT_EQ(npy.shape, (std::vector<int64_t>{defaults().n_mels, 0}));
    EXPECT_TRUE(npy.data.empty());
}

TEST(CliNumpy, NumpyLoadsOutput) {
    std::string python;
    if (!python_numpy_available(&python))
        GTEST_SKIP() << "python3 with numpy not available (set AFX_TEST_PYTHON to a python that has it)";
    auto clips = pick_clips(1);
    ASSERT_GE(clips.size(), 1u);
    TempDir t;
    const fs::path out = t.path() / "o";
    for (const char *layout : {"ft", "tf"}) {
        SCOPED_TRACE(layout);
        for (const char *pool : {"none", "meanstd"}) {
            RunResult r = run_afx({"extract", "-q", "--layout", layout, "--pool", pool, clips[0].string(), "-o",
                                   out.string()},
                                  t.path());
            ASSERT_EQ(r.code, 0) << r.err;
            const fs::path npy_file = npy_path(out, clips[0]);
            const fs::path raw = t.path() / "raw.bin";
            const std::string script =
                "import sys, numpy as np\n"
                "a = np.load(sys.argv[1])\n"
                "assert a.dtype == np.float32, a.dtype\n"
                "assert a.flags['C_CONTIGUOUS']\n"
                "print(','.join(str(d) for d in a.shape))\n"
                "open(sys.argv[2], 'wb').write(a.astype('<f4').tobytes())\n";
            const fs::path py = t.path() / "load.py";
            std::ofstream(py) << script;
            const std::string cmd = shell_quote(python) + " " + shell_quote(py.string()) + " " +
                                    shell_quote(npy_file.string()) + " " + shell_quote(raw.string()) + " >" +
                                    shell_quote((t.path() / "shape.txt").string()) + " 2>&1";
            ASSERT_EQ(std::system(cmd.c_str()), 0) << read_text(t.path() / "shape.txt");
            Npy npy;
            std::string why;
            ASSERT_TRUE(read_npy(npy_file, &npy, &why)) << why;
            std::string shape;
            for (size_t i = 0; i < npy.shape.size(); i++) shape += (i ? "," : "") + std::to_string(npy.shape[i]);
            EXPECT_EQ(read_text(t.path() / "shape.txt"), shape + "\n");
            const auto bytes = read_bytes(raw);
            ASSERT_EQ(bytes.size(), npy.data.size() * 4);
            EXPECT_EQ(std::memcmp(bytes.data(), npy.data.data(), bytes.size()), 0);
        }
    }
}

TEST(CliFailures, CorruptAndMissingInputsDoNotStopTheRun) {
    auto clips = pick_clips(3);
    ASSERT_GE(clips.size(), 3u);
    TempDir t;
    const fs::path corrupt = t.path() / "corrupt.wav";
    {
        const std::string junk = std::string("RIFF\x24\x00\x00\x00WAVEfmt ", 16) + "this is not audio at all";
        std::ofstream(corrupt, std::ios::binary).write(junk.data(), (std::streamsize)junk.size());
    }
    const fs::path missing = t.path() / "no_such_dir" / "missing.flac";
    const fs::path out = t.path() / "out";
    fs::create_directories(out);
    // Things already in OUTDIR stay: an unrelated file and an earlier output of the corrupt input.
    std::ofstream(out / "keep.txt") << "keep";
    std::ofstream(out / "corrupt.npy") << "earlier";

    std::vector<std::string> args = {"extract", clips[0].string(), corrupt.string(), clips[1].string(),
                                     missing.string(), clips[2].string(), "--batch-size", "2", "-o", out.string()};
    RunResult r = run_afx(args, t.path());
    EXPECT_EQ(r.code, 1) << r.err;
    // One stderr line per failure, naming the input.
    int corrupt_lines = 0, missing_lines = 0;
    std::istringstream lines(r.err);
    for (std::string line; std::getline(lines, line);) {
        corrupt_lines += line.find(corrupt.string()) != std::string::npos;
        missing_lines += line.find(missing.string()) != std::string::npos;
    }
    EXPECT_EQ(corrupt_lines, 1) << r.err;
    EXPECT_EQ(missing_lines, 1) << r.err;
    EXPECT_NE(r.err.find("2 failed"), std::string::npos) << "summary must count the failures: " << r.err;

    for (size_t i = 0; i < 3; i++) {
        SCOPED_TRACE(clips[i].string());
        Npy npy;
        std::string why;
        ASSERT_TRUE(read_npy(npy_path(out, clips[i]), &npy, &why)) << why;
        Reference ref = reference(defaults(), clips[i], 0);
        EXPECT_EQ(npy.shape, ref.shape);
        EXPECT_TRUE(bit_equal(npy.data, ref.data));
    }
    EXPECT_FALSE(fs::exists(out / "missing.npy"));
    EXPECT_EQ(read_text(out / "corrupt.npy"), "earlier");
    EXPECT_EQ(read_text(out / "keep.txt"), "keep");
    EXPECT_FALSE(has_tmp_files(out));
}

struct BadArgs {
    std::vector<std::string> args;
    std::vector<std::string> any_of;  // stderr must contain one of these
    std::string also;                 // and this, if not empty
};

TEST(CliErrors, BadParametersExit2BeforeAnyWork) {
    auto clips = pick_clips(1);
    ASSERT_GE(clips.size(), 1u);
    const std::vector<BadArgs> cases = {
        {{"--n-fft", "0"}, {"--n-fft"}, ""},
        {{"--hop-length", "0"}, {"--hop-length"}, ""},
        {{"--f-max", "9000"}, {"--f-max"}, ""},
        {{"--n-mels", "400", "--n-fft", "256", "--win-length", "256"}, {"--n-mels"}, ""},
        {{"--feature", "bogus"}, {"--feature"}, "bogus"},
        {{"--n-fft", "abc"}, {"--n-fft"}, "abc"},
        {{"--n-fft", "512x"}, {"--n-fft"}, "512x"},
        {{"--n-fft", "99999999999999999999"}, {"--n-fft"}, ""},
        {{"--power", "1e999"}, {"--power"}, "1e999"},
        {{"--power", "2.0junk"}, {"--power"}, "2.0junk"},
        {{"--power", ""}, {"--power"}, ""},
        {{"--seed", "-3"}, {"--seed"}, "-3"},
        {{"--window", "hanning"}, {"--window"}, "hanning"},
        {{"--mel-scale", "HTK"}, {"--mel-scale"}, "HTK"},
        {{"--no-such-option"}, {"--no-such-option"}, ""},
        {{"--center=1"}, {"--center"}, ""},
        {{"--batch-size", "0"}, {"--batch-size"}, ""},
        {{"--n-fft"}, {"--n-fft"}, ""},  // value missing (the input after it is taken as the value)
    };
    for (const auto &c : cases) {
        std::string joined;
        for (const auto &a : c.args) joined += a + " ";
        SCOPED_TRACE(joined);
        TempDir t;
        const fs::path out = t.path() / "out";
        std::vector<std::string> args = concat({"extract"}, c.args);
        if (c.args.size() == 1 && c.args[0] == "--n-fft")
            args = {"extract", "-o", out.string(), clips[0].string(), "--n-fft"};
        else
            args = concat(args, {clips[0].string(), "-o", out.string()});
        RunResult r = run_afx(args, t.path());
        EXPECT_EQ(r.code, 2) << r.err;
        bool named = false;
        for (const auto &s : c.any_of) named |= r.err.find(s) != std::string::npos;
        EXPECT_TRUE(named) << "stderr does not name the option: " << r.err;
        if (!c.also.empty()) {
            EXPECT_NE(r.err.find(c.also), std::string::npos) << r.err;
        }
        EXPECT_FALSE(fs::exists(out)) << "OUTDIR must not be created on a parameter error";
    }
}

TEST(CliErrors, UsageErrorsExit2) {
    auto clips = pick_clips(1);
    ASSERT_GE(clips.size(), 1u);
    TempDir t;
    EXPECT_EQ(run_afx({}, t.path()).code, 2);
    EXPECT_EQ(run_afx({"frobnicate"}, t.path()).code, 2);
    RunResult r = run_afx({"extract", "-o", (t.path() / "o").string()}, t.path());
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("Usage"), std::string::npos) << r.err;
    r = run_afx({"extract", clips[0].string()}, t.path());
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("-o"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(t.path() / "o"));
}

// Two inputs given as files with the same basename map to the same output: the second is a per-clip
// error (naming both inputs), the rest of the run goes on (it aborted the whole run before).
TEST(CliErrors, DuplicateOutputNameIsAPerClipError) {
    auto clips = pick_clips(2);
    ASSERT_GE(clips.size(), 2u);
    TempDir t;
    fs::create_directories(t.path() / "a");
    fs::create_directories(t.path() / "b");
    const fs::path x = t.path() / "a" / "same.wav", y = t.path() / "b" / ("same" + clips[1].extension().string());
    fs::copy_file(clips[0], x);
    fs::copy_file(clips[1], y);
    const fs::path out = t.path() / "out";
    RunResult r = run_afx({"extract", clips[0].string(), x.string(), y.string(), "-o", out.string()}, t.path());
    EXPECT_EQ(r.code, 1) << r.err;
    std::string dup_line;
    std::istringstream lines(r.err);
    for (std::string line; std::getline(lines, line);)
        if (line.find("failed") != std::string::npos && line.find(y.string()) != std::string::npos) dup_line = line;
    EXPECT_NE(dup_line.find(x.string()), std::string::npos) << "the error names the other input: " << r.err;
    Npy npy;
    std::string why;
    ASSERT_TRUE(read_npy(out / "same.npy", &npy, &why)) << why;
    EXPECT_TRUE(bit_equal(npy.data, reference(defaults(), x, 1).data)) << "same.npy is the first input's";
    ASSERT_TRUE(read_npy(npy_path(out, clips[0]), &npy, &why)) << why;
}

TEST(CliErrors, CudaBackendUnavailableExit2) {
    afx_params p = defaults();
    p.backend = AFX_BACKEND_CUDA;
    p.max_samples = 16000;
    afx_plan *plan = nullptr;
    char err[AFX_ERROR_MAX] = "";
    afx_status s = afx_plan_create(&p, &plan, err, sizeof err);
    afx_plan_free(plan);
    if (s != AFX_ERR_BACKEND_UNAVAILABLE) GTEST_SKIP() << "CUDA backend available in this build";
    auto clips = pick_clips(1);
    ASSERT_GE(clips.size(), 1u);
    TempDir t;
    const fs::path out = t.path() / "out";
    RunResult r = run_afx({"extract", "--backend", "cuda", clips[0].string(), "-o", out.string()}, t.path());
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find(err), std::string::npos) << "should print the library's message '" << err << "': " << r.err;
    EXPECT_FALSE(fs::exists(out));
}

TEST(CliExtract, SummaryLineUnlessQuiet) {
    auto clips = pick_clips(2);
    ASSERT_GE(clips.size(), 2u);
    TempDir t;
    RunResult r = run_afx({"extract", clips[0].string(), clips[1].string(), "-o", (t.path() / "o").string()},
                          t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("2 ok"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("0 failed"), std::string::npos) << r.err;
    r = run_afx({"extract", "--quiet", clips[0].string(), "-o", (t.path() / "o").string()}, t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(r.out, "");
}

// Every long option the CLI implements.
const std::vector<std::string> kLongOptions = {
    "backend", "batch-size", "output", "quiet", "help", "version", "sample-rate", "input-scale", "int16-scale",
    "dither", "seed", "remove-dc", "preemphasis", "n-fft", "win-length", "hop-length", "round-pow2", "window",
    "periodic-window", "symmetric-window", "center", "no-center", "pad-mode", "snip-edges", "no-snip-edges",
    "power", "feature", "n-mels", "f-min", "f-max", "mel-scale", "mel-norm", "log", "log-floor", "log-offset",
    "db-multiplier", "ref", "amin", "top-db", "n-mfcc", "mfcc-log", "lifter", "mfcc-energy", "no-raw-energy",
    "energy-floor", "normalize", "no-norm-vars", "norm-eps", "time-masks", "time-mask-param", "freq-masks",
    "freq-mask-param", "mask-value", "pool", "layout",
    // presets, peer-library conventions, CUDA
    "preset", "cuda-device", "no-remove-dc", "no-round-pow2", "drop-last-frame", "no-drop-last-frame",
    "mel-linspace-freqs", "no-mel-linspace-freqs", "allow-empty-mel", "no-allow-empty-mel", "log-range", "out-scale",
    "out-bias", "dct-norm", "no-mfcc-energy", "raw-energy",
    // the corpus job
    "files-from", "manifest", "root", "fixed-length", "clip-seconds", "format", "shard-size", "force", "report",
    "jobs", "shard", "shards", "progress", "progress-every", "max-duration",
    // normalization variance
    "norm-unbiased", "no-norm-unbiased"};

// Option table of a help text: option name -> its line (lines that start with spaces then '-').
std::map<std::string, std::string> help_options(const std::string &help) {
    std::map<std::string, std::string> m;
    std::istringstream in(help);
    for (std::string line; std::getline(in, line);) {
        // "  -o, --output DIR ..." or "      --n-fft N ..."
        size_t i = line.find_first_not_of(' ');
        if (i == 0 || i == std::string::npos) continue;
        if (line.compare(i, 1, "-") == 0 && line.compare(i, 2, "--") != 0 && line.size() > i + 4 &&
            line.compare(i + 2, 2, ", ") == 0)
            i += 4;
        if (line.compare(i, 2, "--") != 0) continue;
        size_t end = i + 2;
        while (end < line.size() && (std::islower((unsigned char)line[end]) || std::isdigit((unsigned char)line[end]) ||
                                     line[end] == '-'))
            end++;
        if (end == i + 2 || (end < line.size() && line[end] != ' ')) continue;
        m[line.substr(i + 2, end - i - 2)] = line;
    }
    return m;
}

std::string fmt_g(double v) {
    char b[64];
    std::snprintf(b, sizeof b, "%g", v);
    return b;
}

TEST(CliHelp, ListsEveryOptionWithDefaults) {
    TempDir t;
    const afx_params d = defaults();
    const std::vector<std::vector<std::string>> invocations = {{"--help"}, {"extract", "--help"}};
    for (const auto &args : invocations) {
        SCOPED_TRACE(args.back());
        RunResult r = run_afx(args, t.path());
        ASSERT_EQ(r.code, 0) << r.err;
        auto opts = help_options(r.out);
        std::set<std::string> got, want(kLongOptions.begin(), kLongOptions.end());
        for (const auto &kv : opts) got.insert(kv.first);
        EXPECT_EQ(got, want) << r.out;
        // Defaults, taken from afx_params_init here too.
        const std::map<std::string, std::string> defaults_expected = {
            {"n-fft", std::to_string(d.n_fft)},
            {"win-length", std::to_string(d.win_length)},
            {"hop-length", std::to_string(d.hop_length)},
            {"n-mels", std::to_string(d.n_mels)},
            {"n-mfcc", std::to_string(d.n_mfcc)},
            {"sample-rate", std::to_string(d.sample_rate)},
            {"batch-size", std::to_string(d.max_batch)},
            {"top-db", fmt_g(d.top_db)},
            {"power", fmt_g(d.power)},
            {"log-floor", fmt_g(d.log_floor)},
            {"db-multiplier", fmt_g(d.db_multiplier)},
            {"window", afx_window_name(d.window)},
            {"feature", afx_feature_name(d.feature)},
            {"backend", afx_backend_name(d.backend)},
            {"center", d.center ? "on" : "off"},
            {"no-center", d.center ? "off" : "on"},
        };
        for (const auto &kv : defaults_expected) {
            ASSERT_TRUE(opts.count(kv.first)) << kv.first;
            EXPECT_NE(opts[kv.first].find("(default: " + kv.second + ")"), std::string::npos)
                << kv.first << ": " << opts[kv.first];
        }
        // Every option that takes a value shows a default, except -o.
        for (const auto &kv : opts) {
            if (kv.first == "output" || kv.first == "help" || kv.first == "version" || kv.first == "preset" ||
                kv.first == "files-from" || kv.first == "manifest" || kv.first == "root" || kv.first == "report" ||
                kv.first == "shard" || kv.first == "shards")
                continue;
            EXPECT_NE(kv.second.find("(default: "), std::string::npos) << kv.second;
        }
    }
}

TEST(CliHelp, VersionPrintsLibraryVersion) {
    TempDir t;
    RunResult r = run_afx({"--version"}, t.path());
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.out, std::string(afx_version_string()) + "\n");
}

}  // namespace

#else
TEST(Cli, NotBuilt) { GTEST_SKIP() << "afx_cli target not built (AFX_BUILD_CLI=OFF)"; }
#endif
