// offset_seconds / duration_seconds with librosa.load's semantics (issue 8): skip int(offset * rate)
// source frames, keep int(duration * rate), then downmix and resample.
//
// References: a 16-bit WAV whose codes are generated here (the window is sliced from those codes, as
// librosa.load's __soundfile_load does, then averaged and resampled by the python-soxr call sequence
// written in audio_util.h); for the compressed examples, the slice of their own full decode (seeking
// in FLAC, Vorbis and MP3 is sample-exact). tests/conformance/test_load_window.py compares the same
// windows with librosa.load itself.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "afx_audio.h"
#include "audio_util.h"

namespace {

using namespace audio_test;

afx_audio_options window(int target, int downmix, double offset, double duration)
{
    afx_audio_options o = opts(target, downmix);
    o.offset_seconds = offset;
    o.duration_seconds = duration;
    return o;
}

// librosa: sf_desc.seek(int(offset * sr_native)); sf_desc.read(frames=int(duration * sr_native)).
std::vector<float> reference_window(const std::vector<int16_t> &codes, int ch, int rate, double offset,
                                    double duration, int target, int downmix)
{
    const int64_t frames = static_cast<int64_t>(codes.size()) / ch;
    const int64_t start = static_cast<int64_t>(offset * rate);
    int64_t end = duration > 0 ? start + static_cast<int64_t>(duration * rate) : frames;
    end = std::min(end, frames);
    std::vector<float> x;
    for (int64_t i = start * ch; i < end * ch; ++i) x.push_back(codes[static_cast<size_t>(i)] / 32768.0f);
    int out_ch = ch;
    if (downmix && ch > 1) x = mono_mean(x, ch), out_ch = 1;
    if (target == 0 || target == rate || x.empty()) return x;
    return python_soxr_resample(x, out_ch, rate, target);
}

TEST(AudioWindow, WavWindowsMatchTheReference)
{
    TempDir dir;
    const int rate = 22050, ch = 2;
    const int64_t frames = 3 * rate; // 3 s
    std::vector<int16_t> codes(static_cast<size_t>(frames * ch));
    std::mt19937 rng(8u);
    SCOPED_TRACE("seed=8");
    for (size_t i = 0; i < codes.size(); ++i)
        codes[i] = static_cast<int16_t>(9000 * std::sin(0.013 * static_cast<double>(i / 2) * (i % 2 ? 1.7 : 1.0)) +
                                        static_cast<int>(rng() % 2001) - 1000);
    const std::string path = dir.file("w.wav");
    const std::vector<uint8_t> bytes = pcm16_wav(ch, rate, codes);
    write_bytes(path, bytes);
    struct Win { double offset, duration; };
    const Win wins[] = {{0, 0},        {0.5, 0},      {1.0, 0.25},     {0.123456, 0.654321}, {2.9, 5.0},
                        {0, 1e-5},     {1e-5, 0.1},   {2.99999, 0},    {3.0, 0},             {0.0371, 0.0123}};
    for (const Win &w : wins) {
        for (int target : {0, 16000, 44100}) {
            for (int downmix : {0, 1}) {
                SCOPED_TRACE("offset " + std::to_string(w.offset) + " duration " + std::to_string(w.duration) +
                             " target " + std::to_string(target) + " downmix " + std::to_string(downmix));
                const std::vector<float> ref = reference_window(codes, ch, rate, w.offset, w.duration, target, downmix);
                const afx_audio_options o = window(target, downmix, w.offset, w.duration);
                Clip clip, mem;
                char err[AFX_ERROR_MAX] = "";
                ASSERT_EQ(afx_audio_load_file(path.c_str(), &o, &clip.c, err, sizeof err), AFX_OK) << err;
                EXPECT_EQ(clip.c.n_channels, downmix ? 1 : ch);
                EXPECT_EQ(clip.c.sample_rate, target ? target : rate);
                EXPECT_TRUE(clip.samples() == ref) << clip.samples().size() << " vs " << ref.size();
                ASSERT_EQ(afx_audio_load_memory(bytes.data(), bytes.size(), "w", &o, &mem.c, err, sizeof err), AFX_OK);
                EXPECT_TRUE(mem.samples() == ref);
            }
        }
    }
}

// Compressed files: the window equals the slice of the file's full decode (native rate, channels
// kept) and, resampled, the reference pipeline applied to that slice.
TEST(AudioWindow, CompressedWindowsAreSlicesOfTheFullDecode)
{
    for (const char *name : {"spi_loop_amen.flac", "conv_loop_amen_44k.mp3", "fdo_service-login.oga",
                             "fdo_camera-shutter.oga", "ast_demo-thanks.wav", "conv_demo-thanks_8k_ulaw.wav"}) {
        SCOPED_TRACE(name);
        Clip full;
        char err[AFX_ERROR_MAX] = "";
        const afx_audio_options all = opts(0, 0);
        ASSERT_EQ(afx_audio_load_file(example(name).c_str(), &all, &full.c, err, sizeof err), AFX_OK) << err;
        const int rate = full.c.sample_rate, ch = full.c.n_channels;
        const std::vector<float> x = full.samples();
        for (double offset : {0.0, 0.0371, 0.25, 0.5}) {
            for (double duration : {0.0, 0.1, 0.3333}) {
                SCOPED_TRACE(std::to_string(offset) + " + " + std::to_string(duration));
                const int64_t start = static_cast<int64_t>(offset * rate);
                const int64_t end = std::min<int64_t>(duration > 0 ? start + static_cast<int64_t>(duration * rate)
                                                                   : full.c.n_samples,
                                                      full.c.n_samples);
                const std::vector<float> slice(x.begin() + start * ch, x.begin() + end * ch);
                Clip native, mono16;
                afx_audio_options o = window(0, 0, offset, duration);
                ASSERT_EQ(afx_audio_load_file(example(name).c_str(), &o, &native.c, err, sizeof err), AFX_OK) << err;
                EXPECT_TRUE(native.samples() == slice);
                o = window(16000, 1, offset, duration);
                ASSERT_EQ(afx_audio_load_file(example(name).c_str(), &o, &mono16.c, err, sizeof err), AFX_OK) << err;
                const std::vector<float> mono = ch > 1 ? mono_mean(slice, ch) : slice;
                EXPECT_TRUE(mono16.samples() == (rate == 16000 ? mono : python_soxr_resample(mono, 1, rate, 16000)));
            }
        }
    }
}

TEST(AudioWindow, OffsetPastTheEndAndBadValues)
{
    TempDir dir;
    const std::string path = dir.file("s.wav");
    write_bytes(path, pcm16_wav(1, 16000, std::vector<int16_t>(16000, 100))); // exactly 1 s
    char err[AFX_ERROR_MAX] = "";
    {
        Clip clip;
        afx_audio_options o = window(16000, 1, 1.0, 0); // at the end: nothing left, not an error
        ASSERT_EQ(afx_audio_load_file(path.c_str(), &o, &clip.c, err, sizeof err), AFX_OK) << err;
        EXPECT_EQ(clip.c.n_samples, 0);
        EXPECT_EQ(clip.c.samples, nullptr);
    }
    for (double offset : {1.0001, 2.0, 1e300}) {
        Clip clip;
        poison(&clip.c);
        afx_audio_options o = window(16000, 1, offset, 0.5);
        EXPECT_EQ(afx_audio_load_file(path.c_str(), &o, &clip.c, err, sizeof err), AFX_ERR_INVALID_PARAM);
        EXPECT_TRUE(is_zeroed(clip.c));
        EXPECT_TRUE(contains(err, path) && contains(err, "past the end") && contains(err, "16000 frames")) << err;
    }
    struct Bad { double offset, duration, max_duration; const char *field; };
    for (const Bad &b : {Bad{-0.1, 0, 1, "offset_seconds"}, Bad{NAN, 0, 1, "offset_seconds"},
                         Bad{INFINITY, 0, 1, "offset_seconds"}, Bad{0, -1, 1, "duration_seconds"},
                         Bad{0, NAN, 1, "duration_seconds"}, Bad{0, 0, -1, "max_duration_seconds"},
                         Bad{0, 0, INFINITY, "max_duration_seconds"}}) {
        SCOPED_TRACE(b.field);
        Clip clip;
        afx_audio_options o = window(16000, 1, b.offset, b.duration);
        o.max_duration_seconds = b.max_duration;
        EXPECT_EQ(afx_audio_load_file(path.c_str(), &o, &clip.c, err, sizeof err), AFX_ERR_INVALID_PARAM);
        EXPECT_TRUE(contains(err, path) && contains(err, b.field)) << err;
    }
    afx_audio_options o = opts(16000, 1);
    o.max_stream_bytes = -1;
    Clip clip;
    EXPECT_EQ(afx_audio_load_file(path.c_str(), &o, &clip.c, err, sizeof err), AFX_ERR_INVALID_PARAM);
    EXPECT_TRUE(contains(err, "max_stream_bytes")) << err;
    o = opts(16000, 1);
    o.keep_int16 = 2;
    EXPECT_EQ(afx_audio_load_file(path.c_str(), &o, &clip.c, err, sizeof err), AFX_ERR_INVALID_PARAM);
    EXPECT_TRUE(contains(err, "keep_int16")) << err;
}

// Defaults documented in afx_audio.h.
TEST(AudioWindow, OptionDefaults)
{
    afx_audio_options o;
    std::memset(&o, 0x5A, sizeof o);
    afx_audio_options_init(&o);
    EXPECT_EQ(o.target_rate, 16000);
    EXPECT_EQ(o.downmix, 1);
    EXPECT_EQ(o.max_samples, 0);
    EXPECT_EQ(o.offset_seconds, 0.0);
    EXPECT_EQ(o.duration_seconds, 0.0);
    EXPECT_EQ(o.max_duration_seconds, 14400.0);
    EXPECT_EQ(o.max_stream_bytes, int64_t{1} << 30);
    EXPECT_EQ(o.keep_int16, 0);
}

} // namespace
