// Finiteness of what is returned (issue 11, item 1) and bounded memory (item 7).
//
// Item 1: the NaN/Inf check used to run on the decoded file before resampling, and libsoxr
// overflows float32 on huge finite samples, so the 52-byte WAV of the issue came back as [nan, 0]
// with AFX_OK. Now the returned samples are checked. References: the issue's bytes, values written
// here, and IEEE facts (3e38 is finite in float32, 2 * 3e38 is not).
// Item 7: a 32 KB WAV whose header says 1 Hz was resampled to 16 kHz into gigabytes; long files were
// held three times. References: header values written here, and the process's peak RSS.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "afx_audio.h"
#include "audio_util.h"

namespace {

using namespace audio_test;

// The issue's reproducer: mono float WAV, 22050 Hz, two samples 0x7F61B1E6 (about 3.0e38).
std::vector<uint8_t> issue_wav()
{
    const char *hex = "524946462c00000057415645666d742010000000030001002256000088580100040020006461746108000000e6b1617fe6b1617f";
    std::vector<uint8_t> b;
    for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) b.push_back(static_cast<uint8_t>(std::stoi(std::string(hex + i, 2), nullptr, 16)));
    return b;
}

afx_status load(const std::string &path, const afx_audio_options &o, Clip *clip, char *err)
{
    return afx_audio_load_file(path.c_str(), &o, &clip->c, err, AFX_ERROR_MAX);
}

TEST(AudioLimits, HugeFiniteSamplesAreRefusedAfterResampling)
{
    TempDir dir;
    const std::vector<uint8_t> bytes = issue_wav();
    ASSERT_EQ(bytes.size(), 52u);
    const std::string path = dir.file("huge.wav");
    write_bytes(path, bytes);
    float v;
    std::memcpy(&v, bytes.data() + 44, 4);
    ASSERT_TRUE(std::isfinite(v));
    ASSERT_GT(v, 2.9e38f);

    char err[AFX_ERROR_MAX] = "";
    {
        Clip clip;
        poison(&clip.c);
        EXPECT_EQ(load(path, opts(16000, 1), &clip, err), AFX_ERR_INVALID_INPUT);
        EXPECT_TRUE(is_zeroed(clip.c));
        for (const char *part : {"huge.wav", "finite but too large", "22050 Hz -> 16000 Hz", "3e+38"})
            EXPECT_TRUE(contains(err, part)) << part << " not in: " << err;
        EXPECT_FALSE(contains(err, "is NaN")) << err; // the file holds no NaN
    }
    {
        Clip clip;
        const afx_audio_options o = opts(16000, 1);
        EXPECT_EQ(afx_audio_load_memory(bytes.data(), bytes.size(), "upload", &o, &clip.c, err, sizeof err),
                  AFX_ERR_INVALID_INPUT);
        EXPECT_TRUE(contains(err, "upload") && contains(err, "finite but too large")) << err;
    }
    {   // At the file's own rate nothing overflows: the samples come back as stored.
        Clip clip;
        ASSERT_EQ(load(path, opts(0, 1), &clip, err), AFX_OK) << err;
        EXPECT_EQ(clip.samples(), std::vector<float>({v, v}));
    }
    {   // Two channels of 3e38: the float32 mean overflows (3e38 + 3e38 = inf), before any resampling.
        const std::string stereo = dir.file("huge2.wav");
        write_bytes(stereo, make_wav(3, 2, 22050, 32, float_bytes({v, v, v, v})));
        Clip clip;
        EXPECT_EQ(load(stereo, opts(0, 1), &clip, err), AFX_ERR_INVALID_INPUT);
        EXPECT_TRUE(contains(err, "downmix") && contains(err, "finite but too large")) << err;
        Clip kept;
        ASSERT_EQ(load(stereo, opts(0, 0), &kept, err), AFX_OK) << err; // no downmix: nothing overflows
    }
}

// The contract: AFX_OK never comes with a non-finite sample. Float WAVs of random magnitudes up to
// FLT_MAX at several rates, resampled to 16 kHz: each load is refused or entirely finite.
TEST(AudioLimits, OkNeverReturnsNonFiniteSamples)
{
    TempDir dir;
    const unsigned seed = 99u;
    SCOPED_TRACE("seed=99");
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> expo(30.0, 38.53), unit(0.0, 1.0);
    int refused = 0, accepted = 0;
    for (int t = 0; t < 40; ++t) {
        const int rates[] = {8000, 22050, 44100, 48000};
        const int rate = rates[t % 4];
        std::vector<float> x(500);
        // One-signed blocks of large values: the filter's overshoot at their edges (Gibbs) is what
        // takes values near FLT_MAX (3.4e38) past it.
        const double scale = std::pow(10.0, expo(rng)), sign = t % 2 ? 1.0 : -1.0;
        for (auto &s : x) s = static_cast<float>(std::fmin(3.4e38, scale * (0.6 + 0.4 * unit(rng)))) * static_cast<float>(sign);
        const std::string path = dir.file("r.wav");
        write_bytes(path, make_wav(3, 1, rate, 32, float_bytes(x)));
        Clip clip;
        char err[AFX_ERROR_MAX] = "";
        const afx_status st = load(path, opts(16000, 1), &clip, err);
        if (st == AFX_OK) {
            ++accepted;
            for (float s : clip.samples()) ASSERT_TRUE(std::isfinite(s)) << "scale " << scale;
        } else {
            ++refused;
            ASSERT_EQ(st, AFX_ERR_INVALID_INPUT) << err;
            EXPECT_TRUE(contains(err, "finite but too large")) << err;
        }
    }
    EXPECT_GT(accepted, 0);
    EXPECT_GT(refused, 0); // both sides of the overflow were exercised
}

// A NaN in a resampled or downmixed file is reported at its place in the file (frame, channel),
// also behind an offset; a NaN outside the decoded window is not looked at.
TEST(AudioLimits, NanIsReportedAtItsFramePastResampling)
{
    TempDir dir;
    const int rate = 44100, n = 4410;
    std::vector<float> x(2 * n);
    for (int i = 0; i < n; ++i) x[2 * i] = x[2 * i + 1] = static_cast<float>(0.3 * std::sin(0.05 * i));
    x[2 * 1234 + 1] = std::nanf("");
    const std::string path = dir.file("nan.wav");
    write_bytes(path, make_wav(3, 2, rate, 32, float_bytes(x)));
    char err[AFX_ERROR_MAX] = "";
    for (int downmix : {0, 1}) {
        Clip clip;
        afx_audio_options o = opts(16000, downmix);
        o.offset_seconds = 0.01; // 441 frames
        EXPECT_EQ(load(path, o, &clip, err), AFX_ERR_INVALID_INPUT);
        EXPECT_TRUE(contains(err, "sample 1234 (channel 1) is NaN")) << err;
    }
    Clip before;
    afx_audio_options o = opts(16000, 1);
    o.duration_seconds = 0.02; // frames 0..881: the NaN at 1234 is not used
    ASSERT_EQ(load(path, o, &before, err), AFX_OK) << err;
    EXPECT_EQ(before.c.n_samples, ceil_div(882 * 16000, rate));
}

// The resampling rule: source >= 1000 Hz, target <= 256 x source. The issue's 1 Hz WAV (32 KB).
TEST(AudioLimits, AbsurdRateRatiosAreRefused)
{
    TempDir dir;
    char err[AFX_ERROR_MAX] = "";
    const std::string onehz = dir.file("onehz.wav");
    write_bytes(onehz, make_wav(1, 1, 1, 16, std::vector<uint8_t>(32000, 0)));
    {
        Clip clip;
        EXPECT_EQ(load(onehz, opts(16000, 1), &clip, err), AFX_ERR_INVALID_INPUT);
        for (const char *part : {"onehz.wav", "1 Hz -> 16000 Hz", "1000 Hz", "256"})
            EXPECT_TRUE(contains(err, part)) << part << " not in: " << err;
    }
    {   // At its own rate it is 16000 s long: over the default 4 h limit, from the header alone.
        Clip clip;
        EXPECT_EQ(load(onehz, opts(0, 1), &clip, err), AFX_ERR_EXCEEDS_PLAN);
        EXPECT_TRUE(contains(err, "16000.0 s") && contains(err, "max_duration_seconds = 14400")) << err;
        afx_audio_options o = opts(0, 1);
        o.max_duration_seconds = 0; // no limit
        Clip ok;
        ASSERT_EQ(load(onehz, o, &ok, err), AFX_OK) << err;
        EXPECT_EQ(ok.c.n_samples, 16000);
    }
    struct Case { int rate, target; afx_status expected; };
    for (const Case &k : {Case{999, 16000, AFX_ERR_INVALID_INPUT}, Case{1000, 16000, AFX_OK},
                          Case{1000, 256000, AFX_OK}, Case{1000, 257000, AFX_ERR_INVALID_INPUT},
                          Case{1000000, 1000, AFX_OK}, Case{3000, 1000000, AFX_ERR_INVALID_INPUT}}) {
        SCOPED_TRACE(std::to_string(k.rate) + " -> " + std::to_string(k.target));
        const std::string path = dir.file("r.wav");
        write_bytes(path, make_wav(1, 1, k.rate, 16, std::vector<uint8_t>(2000, 0)));
        Clip clip;
        EXPECT_EQ(load(path, opts(k.target, 1), &clip, err), k.expected) << err;
        if (k.expected == AFX_OK) {
            EXPECT_EQ(clip.c.n_samples, ceil_div(int64_t{1000} * k.target, k.rate));
        }
    }
}

// FLAC's STREAMINFO (RFC 9639 section 8.2) states the total sample count in 36 bits at bytes 21-25
// of the file ("fLaC", a 4-byte block header, then 13 bytes of other fields).
std::vector<uint8_t> flac_with_total(uint64_t total)
{
    std::vector<uint8_t> b = read_bytes(example("spi_misc_burp.flac"));
    b[21] = static_cast<uint8_t>((b[21] & 0xF0) | ((total >> 32) & 0x0F));
    for (int k = 0; k < 4; ++k) b[22 + k] = static_cast<uint8_t>(total >> (24 - 8 * k));
    return b;
}

TEST(AudioLimits, MaxDurationFromTheHeaderAndWhileDecoding)
{
    TempDir dir;
    char err[AFX_ERROR_MAX] = "";
    // The header claims 10 hours (the file holds 0.79 s): refused on the header, before decoding
    // (decoding would have ended in "truncated").
    const std::string liar = dir.file("liar.flac");
    write_bytes(liar, flac_with_total(uint64_t{44100} * 36000));
    {
        Clip clip;
        EXPECT_EQ(load(liar, opts(16000, 1), &clip, err), AFX_ERR_EXCEEDS_PLAN);
        EXPECT_TRUE(contains(err, "36000.0 s") && contains(err, "max_duration_seconds = 14400") &&
                    !contains(err, "does not state")) << err;
        afx_audio_options o = opts(16000, 1);
        o.max_duration_seconds = 0;
        EXPECT_EQ(load(liar, o, &clip, err), AFX_ERR_DECODE);
        EXPECT_TRUE(contains(err, "truncated")) << err;
    }
    // No length in the header (0 = unknown): the limit applies while decoding.
    const std::string unknown = dir.file("unknown.flac");
    write_bytes(unknown, flac_with_total(0));
    {
        Clip clip;
        afx_audio_options o = opts(16000, 1);
        o.max_duration_seconds = 0.5;
        EXPECT_EQ(load(unknown, o, &clip, err), AFX_ERR_EXCEEDS_PLAN);
        EXPECT_TRUE(contains(err, "does not state") && contains(err, "max_duration_seconds = 0.5")) << err;
        o.max_duration_seconds = 0.8; // the clip is 34984 frames = 0.793 s
        Clip ok, ref;
        ASSERT_EQ(load(unknown, o, &ok, err), AFX_OK) << err;
        ASSERT_EQ(load(example("spi_misc_burp.flac"), opts(16000, 1), &ref, err), AFX_OK) << err;
        EXPECT_TRUE(ok.samples() == ref.samples());
    }
    // The limit counts the decoded window (0.25 s of the 0.79 s file is fine under 0.3 s; 0.35 s is not).
    {
        Clip fits, over;
        afx_audio_options o = opts(16000, 1);
        o.max_duration_seconds = 0.3;
        o.offset_seconds = 0.2;
        o.duration_seconds = 0.25;
        ASSERT_EQ(load(example("spi_misc_burp.flac"), o, &fits, err), AFX_OK) << err;
        o.duration_seconds = 0.35;
        EXPECT_EQ(load(example("spi_misc_burp.flac"), o, &over, err), AFX_ERR_EXCEEDS_PLAN);
        EXPECT_TRUE(contains(err, "after the offset")) << err;
    }
}

#if defined(__SANITIZE_ADDRESS__)
#define AFX_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AFX_TEST_ASAN 1
#endif
#endif

#ifndef AFX_TEST_ASAN
// A kB value of /proc/self/status ("VmHWM:", "VmRSS:"), or -1.
long status_kb(const char *key)
{
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(key, 0) == 0) return std::stol(line.substr(std::strlen(key)));
    return -1;
}

#endif

// Long files are streamed: loading 6 minutes of 44.1 kHz stereo 16-bit (a 63.5 MB file, 127 MB as
// float32) at 16 kHz mono raises the process's peak RSS by the output (23 MB) plus a small constant,
// not by the decoded file. Linux's peak-RSS reset (/proc/self/clear_refs, "5") isolates the load.
TEST(AudioLimits, LongFilesAreStreamed)
{
#ifdef AFX_TEST_ASAN
    GTEST_SKIP() << "AddressSanitizer's allocator changes the resident set";
#else
    TempDir dir;
    const int rate = 44100, seconds = 360;
    const int64_t frames = int64_t{rate} * seconds;
    const std::string path = dir.file("long.wav");
    {
        std::vector<int16_t> block(2 * rate);
        std::ofstream f(path, std::ios::binary);
        const std::vector<uint8_t> head = make_wav(1, 2, rate, 16, {}, frames * 4);
        f.write(reinterpret_cast<const char *>(head.data()), static_cast<std::streamsize>(head.size()));
        for (int s = 0; s < seconds; ++s) {
            for (int i = 0; i < rate; ++i)
                block[2 * i] = block[2 * i + 1] = static_cast<int16_t>(8000 * std::sin(0.01 * (s * rate + i)));
            f.write(reinterpret_cast<const char *>(block.data()), static_cast<std::streamsize>(block.size() * 2));
        }
    }
    {
        std::ofstream reset("/proc/self/clear_refs");
        reset << "5";
        reset.close();
        if (!reset || status_kb("VmHWM:") < 0) GTEST_SKIP() << "no peak-RSS reset on this system";
    }
    const long base = status_kb("VmRSS:");
    const long hwm0 = status_kb("VmHWM:");
    ASSERT_LE(hwm0 - base, 1024) << "the peak was not reset";
    Clip clip;
    char err[AFX_ERROR_MAX] = "";
    ASSERT_EQ(load(path, opts(16000, 1), &clip, err), AFX_OK) << err;
    const long peak = status_kb("VmHWM:") - base;
    const int64_t out_kb = clip.c.n_samples * 4 / 1024;
    EXPECT_EQ(clip.c.n_samples, ceil_div(frames * 16000, rate));
    const int64_t decoded_kb = frames * 2 * 4 / 1024;
    RecordProperty("peak_rss_growth_kb", static_cast<int>(peak));
    EXPECT_LT(peak, out_kb + 16 * 1024) << "peak RSS grew by " << peak << " kB for a " << out_kb
                                        << " kB output (the decoded file is " << decoded_kb << " kB)";
#endif
}

} // namespace
