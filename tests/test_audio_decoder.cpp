// The reusable decoder and keep_int16 (issue 8: reuse buffers and soxr state per thread, open each
// file once, scan for NaN once, decode 16-bit PCM as int16), and the streamed resampler.
//
// References: the one-shot loaders (the decoder's contract is "exactly their results"); 16-bit codes
// parsed or generated here; the python-soxr call sequence over the whole decoded file (audio_util.h),
// which the block-by-block streaming must reproduce bit for bit; and, for keep_int16, the features of
// the float path, which the int16 clip handed to afx_input as AFX_SAMPLE_S16 must reproduce bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <sndfile.h>

#include "afx.h"
#include "afx_audio.h"
#include "audio_util.h"

namespace {

using namespace audio_test;

struct Result {
    afx_status status;
    std::string err;
    std::vector<float> f32;
    std::vector<int16_t> s16;
    int64_t n;
    int channels, rate, source_rate, source_channels, format;
};

Result summarize(afx_status st, const char *err, const afx_audio_clip &c)
{
    Result r{st, err, {}, {}, c.n_samples, c.n_channels, c.sample_rate, c.source_rate, c.source_channels,
             static_cast<int>(c.sample_format)};
    if (c.samples) r.f32.assign(c.samples, c.samples + c.n_samples * c.n_channels);
    if (c.samples_s16) r.s16.assign(c.samples_s16, c.samples_s16 + c.n_samples * c.n_channels);
    return r;
}

void expect_same(const Result &a, const Result &b)
{
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.err, b.err);
    EXPECT_EQ(a.n, b.n);
    EXPECT_EQ(a.channels, b.channels);
    EXPECT_EQ(a.rate, b.rate);
    EXPECT_EQ(a.source_rate, b.source_rate);
    EXPECT_EQ(a.source_channels, b.source_channels);
    EXPECT_EQ(a.format, b.format);
    EXPECT_TRUE(a.f32 == b.f32);
    EXPECT_TRUE(a.s16 == b.s16);
}

// One decoder through a varied sequence (formats, rates, channels, windows, int16, failures in
// between, a repeated rate pair so libsoxr is cleared and reused): every result equals the one-shot's.
TEST(AudioDecoder, ReuseGivesTheOneShotResults)
{
    TempDir dir;
    const std::string junk = dir.file("junk.wav"), missing = dir.file("missing.wav");
    write_bytes(junk, std::vector<uint8_t>(300, 0x42));
    afx_audio_decoder *dec = nullptr;
    char err[AFX_ERROR_MAX] = "";
    ASSERT_EQ(afx_audio_decoder_create(&dec, err, sizeof err), AFX_OK) << err;
    struct Step { std::string path; int target, downmix, keep_int16; double offset, duration; };
    std::vector<Step> steps;
    const char *names[] = {"spi_loop_amen.flac", "alsa_Front_Center.wav", "conv_loop_amen_44k.mp3",
                           "fdo_service-login.oga", "tts_espeak-ng_en-us.wav", "conv_perc_door_22k_u8.wav"};
    for (int rep = 0; rep < 2; ++rep) {
        for (const char *n : names) {
            steps.push_back({example(n), 16000, 1, 0, 0, 0});
            steps.push_back({example(n), 0, 0, 1, 0.1, 0.5});
            steps.push_back({junk, 16000, 1, 0, 0, 0});
            steps.push_back({example(n), 22050, rep, 1, 0.05, 0});
            steps.push_back({missing, 16000, 1, 0, 0, 0});
        }
    }
    for (const Step &s : steps) {
        SCOPED_TRACE(s.path + " target " + std::to_string(s.target));
        afx_audio_options o = opts(s.target, s.downmix);
        o.keep_int16 = s.keep_int16;
        o.offset_seconds = s.offset;
        o.duration_seconds = s.duration;
        char e1[AFX_ERROR_MAX] = "", e2[AFX_ERROR_MAX] = "";
        Clip once;
        const afx_status st1 = afx_audio_load_file(s.path.c_str(), &o, &once.c, e1, sizeof e1);
        afx_audio_clip lent;
        poison(&lent);
        const afx_status st2 = afx_audio_decoder_load_file(dec, s.path.c_str(), &o, &lent, e2, sizeof e2);
        if (st2 != AFX_OK) {
            EXPECT_TRUE(is_zeroed(lent));
        }
        expect_same(summarize(st2, e2, lent), summarize(st1, e1, once.c));
        // From memory too (the bytes of the same file).
        if (st1 == AFX_OK) {
            const std::vector<uint8_t> bytes = read_bytes(s.path);
            const afx_status st3 = afx_audio_decoder_load_memory(dec, bytes.data(), bytes.size(), s.path.c_str(), &o,
                                                                 &lent, e2, sizeof e2);
            expect_same(summarize(st3, e2, lent), summarize(st1, e1, once.c));
        }
    }
    afx_audio_decoder_free(dec);
    afx_audio_decoder_free(nullptr);
}

TEST(AudioDecoder, NullArguments)
{
    char err[AFX_ERROR_MAX] = "";
    EXPECT_EQ(afx_audio_decoder_create(nullptr, err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    afx_audio_decoder *dec = nullptr;
    ASSERT_EQ(afx_audio_decoder_create(&dec, err, sizeof err), AFX_OK);
    const afx_audio_options o = opts(16000, 1);
    afx_audio_clip c;
    const std::vector<uint8_t> bytes = read_bytes(example("alsa_Front_Center.wav"));
    EXPECT_EQ(afx_audio_decoder_load_file(nullptr, "x.wav", &o, &c, err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_audio_decoder_load_file(dec, nullptr, &o, &c, err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_audio_decoder_load_file(dec, "x.wav", nullptr, &c, err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_audio_decoder_load_file(dec, "x.wav", &o, nullptr, err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_audio_decoder_load_memory(nullptr, bytes.data(), bytes.size(), "b", &o, &c, err, sizeof err),
              AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_audio_decoder_load_memory(dec, nullptr, 10, "b", &o, &c, err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_audio_decoder_load_memory(dec, bytes.data(), 0, "b", &o, &c, err, sizeof err), AFX_ERR_DECODE);
    afx_audio_decoder_free(dec);
}

// The loaders stream blocks through libsoxr; the result must be what python-soxr's call sequence
// gives on the whole decoded file at once (libsndfile decode and the float32 channel mean, here).
TEST(AudioDecoder, StreamedResamplingEqualsWholeFileResampling)
{
    for (const char *name : {"spi_loop_amen.flac", "alsa_Front_Center.wav", "fdo_camera-shutter.oga",
                             "tts_espeak-ng_en-us.wav", "ast_demo-thanks.wav"}) {
        SF_INFO info{};
        SNDFILE *sf = sf_open(example(name).c_str(), SFM_READ, &info);
        ASSERT_NE(sf, nullptr);
        std::vector<float> x(static_cast<size_t>(info.frames * info.channels));
        ASSERT_EQ(sf_readf_float(sf, x.data(), info.frames), info.frames);
        sf_close(sf);
        const std::vector<float> mono = info.channels > 1 ? mono_mean(x, info.channels) : x;
        for (int target : {8000, 16000, 22050, 44100, 48000}) {
            SCOPED_TRACE(std::string(name) + " -> " + std::to_string(target));
            Clip clip;
            char err[AFX_ERROR_MAX] = "";
            const afx_audio_options o = opts(target, 1);
            ASSERT_EQ(afx_audio_load_file(example(name).c_str(), &o, &clip.c, err, sizeof err), AFX_OK) << err;
            EXPECT_TRUE(clip.samples() == python_soxr_resample(mono, 1, info.samplerate, target));
        }
    }
}

// keep_int16: 16-bit PCM at its own rate comes back as its codes, all channels; anything else as float.
TEST(AudioDecoder, KeepInt16ReturnsTheFileCodes)
{
    TempDir dir;
    char err[AFX_ERROR_MAX] = "";
    for (const char *name : {"alsa_Front_Center.wav", "ast_demo-thanks.wav", "tts_espeak-ng_en-us.wav"}) {
        SCOPED_TRACE(name);
        Wav w;
        ASSERT_TRUE(parse_wav(read_bytes(example(name)), &w));
        ASSERT_EQ(w.bits, 16);
        afx_audio_options o = opts(0, 1);
        o.keep_int16 = 1;
        Clip clip;
        ASSERT_EQ(afx_audio_load_file(example(name).c_str(), &o, &clip.c, err, sizeof err), AFX_OK) << err;
        EXPECT_EQ(clip.c.sample_format, AFX_SAMPLE_S16);
        EXPECT_EQ(clip.c.samples, nullptr);
        EXPECT_TRUE(clip.samples_s16() == wav_codes16(w));
        // The same at target_rate == the file's rate, and with a window.
        o.target_rate = w.rate;
        o.offset_seconds = 0.25;
        o.duration_seconds = 0.5;
        Clip win;
        ASSERT_EQ(afx_audio_load_file(example(name).c_str(), &o, &win.c, err, sizeof err), AFX_OK) << err;
        const std::vector<int16_t> codes = wav_codes16(w);
        const size_t start = static_cast<size_t>(0.25 * w.rate), len = static_cast<size_t>(0.5 * w.rate);
        EXPECT_TRUE(win.samples_s16() == std::vector<int16_t>(codes.begin() + static_cast<long>(start),
                                                               codes.begin() + static_cast<long>(start + len)));
    }
    // Stereo 16-bit FLAC: both channels kept though downmix = 1, equal to the float path's values * 32768.
    {
        afx_audio_options o = opts(0, 1);
        o.keep_int16 = 1;
        Clip s16, f32;
        ASSERT_EQ(afx_audio_load_file(example("spi_loop_amen.flac").c_str(), &o, &s16.c, err, sizeof err), AFX_OK);
        EXPECT_EQ(s16.c.sample_format, AFX_SAMPLE_S16);
        EXPECT_EQ(s16.c.n_channels, 2);
        const afx_audio_options of = opts(0, 0);
        ASSERT_EQ(afx_audio_load_file(example("spi_loop_amen.flac").c_str(), &of, &f32.c, err, sizeof err), AFX_OK);
        const std::vector<int16_t> a = s16.samples_s16();
        const std::vector<float> b = f32.samples();
        ASSERT_EQ(a.size(), b.size());
        for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i] / 32768.0f, b[i]) << i;
    }
    // Not 16-bit PCM, or resampled: the float path, downmixed as asked.
    for (const char *name : {"conv_perc_door_22k_u8.wav", "conv_demo-thanks_8k_ulaw.wav", "conv_loop_amen_44k.mp3",
                             "spi_misc_burp.flac" /* 24-bit */, "fdo_service-login.oga"}) {
        SCOPED_TRACE(name);
        afx_audio_options o = opts(0, 1);
        o.keep_int16 = 1;
        Clip clip;
        ASSERT_EQ(afx_audio_load_file(example(name).c_str(), &o, &clip.c, err, sizeof err), AFX_OK) << err;
        EXPECT_EQ(clip.c.sample_format, AFX_SAMPLE_F32);
        EXPECT_EQ(clip.c.samples_s16, nullptr);
        EXPECT_EQ(clip.c.n_channels, 1);
    }
    afx_audio_options o = opts(16000, 1);
    o.keep_int16 = 1;
    Clip resampled;
    ASSERT_EQ(afx_audio_load_file(example("spi_loop_amen.flac").c_str(), &o, &resampled.c, err, sizeof err), AFX_OK);
    EXPECT_EQ(resampled.c.sample_format, AFX_SAMPLE_F32);
    EXPECT_EQ(resampled.c.n_channels, 1);
}

// Features of the int16 clip (AFX_SAMPLE_S16, the file's channels, averaged by the library) are
// bit-identical to the float path's (mono float32 clip): both means are exact sums of 16-bit codes
// divided once by the channel count, v / 32768 is exact in float32, and the division by the channel
// count is correctly rounded in both (float32 here, double then float in afx_downmix_s16, which the
// sums' short binary expansions keep from double rounding).
TEST(AudioDecoder, KeepInt16FeaturesAreBitIdentical)
{
    TempDir dir;
    std::vector<std::string> paths = {example("alsa_Front_Center.wav"), example("ast_demo-thanks.wav"),
                                      example("tts_espeak-ng_en-us.wav"), example("spi_loop_amen.flac")};
    std::mt19937 rng(303u);
    SCOPED_TRACE("seed=303");
    for (int ch : {3, 6}) { // generated multichannel WAVs
        std::vector<int16_t> codes(static_cast<size_t>(ch) * 24000);
        for (size_t i = 0; i < codes.size(); ++i)
            codes[i] = static_cast<int16_t>(12000 * std::sin(0.002 * static_cast<double>(i)) + static_cast<int>(rng() % 8001) - 4000);
        paths.push_back(dir.file(ch == 3 ? "three.wav" : "six.wav"));
        write_bytes(paths.back(), pcm16_wav(ch, 24000, codes));
    }
    struct Conf { afx_preset preset; afx_feature feature; };
    for (const std::string &path : paths) {
        char err[AFX_ERROR_MAX] = "";
        afx_audio_options of = opts(0, 1), oi = opts(0, 1);
        oi.keep_int16 = 1;
        Clip f, s;
        ASSERT_EQ(afx_audio_load_file(path.c_str(), &of, &f.c, err, sizeof err), AFX_OK) << err;
        ASSERT_EQ(afx_audio_load_file(path.c_str(), &oi, &s.c, err, sizeof err), AFX_OK) << err;
        ASSERT_EQ(s.c.sample_format, AFX_SAMPLE_S16);
        for (const Conf &k : {Conf{AFX_PRESET_LIBROSA, AFX_FEATURE_MFCC}, Conf{AFX_PRESET_TORCHAUDIO, AFX_FEATURE_MEL},
                              Conf{AFX_PRESET_KALDI, AFX_FEATURE_LOGMEL}, Conf{AFX_PRESET_WHISPER, AFX_FEATURE_LOGMEL},
                              Conf{AFX_PRESET_TF, AFX_FEATURE_MFCC}}) {
            SCOPED_TRACE(path + " preset " + std::to_string(k.preset));
            afx_params p;
            ASSERT_EQ(afx_params_preset(&p, k.preset, k.feature, err, sizeof err), AFX_OK) << err;
            p.sample_rate = f.c.sample_rate; // the int16 path is for clips at their own rate
            p.dither = 0.0f;
            p.mel_allow_empty = 1; // presets made for 16 kHz have empty low mel filters at 48 kHz
            p.f_max = 0.0f;        // Nyquist: tf's 7600 Hz is above it for the 8 kHz clip
            p.max_batch = 1;
            p.max_samples = f.c.n_samples;
            afx_plan *plan = nullptr;
            ASSERT_EQ(afx_plan_create(&p, &plan, err, sizeof err), AFX_OK) << err;
            std::vector<float> out[2];
            for (int which = 0; which < 2; ++which) {
                const void *clips[1] = {which ? static_cast<const void *>(s.c.samples_s16) : f.c.samples};
                const int64_t lengths[1] = {which ? s.c.n_samples : f.c.n_samples};
                afx_input in{};
                in.format = which ? AFX_SAMPLE_S16 : AFX_SAMPLE_F32;
                in.n_channels = which ? s.c.n_channels : 1;
                in.clips = clips;
                in.lengths = lengths;
                in.n_clips = 1;
                int64_t max_frames = 0, n_frames[1] = {0};
                ASSERT_EQ(afx_plan_output_shape(plan, &in, nullptr, &max_frames), AFX_OK) << afx_plan_error(plan);
                out[which].assign(afx_plan_output_size(plan, 1, max_frames) + 1, -1.0f);
                afx_output o{out[which].data(), max_frames, n_frames};
                ASSERT_EQ(afx_plan_execute(plan, &in, &o), AFX_OK) << afx_plan_error(plan);
                ASSERT_GT(n_frames[0], 0);
            }
            afx_plan_free(plan);
            ASSERT_EQ(out[0].size(), out[1].size());
            EXPECT_EQ(std::memcmp(out[0].data(), out[1].data(), out[0].size() * sizeof(float)), 0);
        }
    }
}

} // namespace
