// Tests of the audio input module (include/afx_audio.h): decoding, downmix, resampling, errors.
//
// Every expectation comes from an independent reference: a RIFF/WAVE parser and a G.711 decoder
// written here, WAV files written byte by byte here, the stated facts of examples/audio/SOURCES.md,
// and analytic sines. Nothing is compared against output of the code under test except where the
// contract itself says two paths must agree (memory vs file, downmix vs non-downmixed decode).
#include <gtest/gtest.h>

#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sndfile.h>

#include "afx_audio.h"
#include "audio_util.h"

namespace {

using namespace audio_test;

const double kPi = 3.14159265358979323846;

// ---- samples of a parsed WAV (audio_util.h parses it): PCM u8/s16, mu-law -----------------------

// ITU-T G.711 mu-law expansion to 16-bit linear (the classic Sun reference algorithm).
int ulaw_to_linear(uint8_t u)
{
    u = static_cast<uint8_t>(~u);
    int t = (((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 7);
    return (u & 0x80) ? 0x84 - t : t - 0x84;
}

std::vector<float> wav_samples(const Wav &w)
{
    std::vector<float> out;
    if (w.format == 1 && w.bits == 8) {
        for (uint8_t v : w.data) out.push_back((static_cast<int>(v) - 128) / 128.0f);
    } else if (w.format == 1 && w.bits == 16) {
        for (size_t i = 0; i + 1 < w.data.size(); i += 2)
            out.push_back(static_cast<int16_t>(le16(w.data.data() + i)) / 32768.0f);
    } else if (w.format == 7 && w.bits == 8) {
        for (uint8_t v : w.data) out.push_back(ulaw_to_linear(v) / 32768.0f);
    }
    return out;
}

// ================================================================================================
// Decoding against independent references
// ================================================================================================

// The PCM WAV examples decode to exactly the samples in their data chunk, at the stated rate.
TEST(AudioDecode, PcmWavMatchesIndependentParser)
{
    for (const char *name : {"alsa_Front_Center.wav", "ast_demo-thanks.wav", "tts_espeak-ng_en-us.wav",
                             "conv_perc_door_22k_u8.wav"}) {
        SCOPED_TRACE(name);
        Wav w;
        ASSERT_TRUE(parse_wav(read_bytes(example(name)), &w));
        const std::vector<float> ref = wav_samples(w);
        ASSERT_FALSE(ref.empty());

        Clip clip;
        char err[AFX_ERROR_MAX] = "";
        afx_audio_options o = opts(0, 0);
        ASSERT_EQ(afx_audio_load_file(example(name).c_str(), &o, &clip.c, err, sizeof err), AFX_OK) << err;
        EXPECT_EQ(clip.c.sample_rate, w.rate);
        EXPECT_EQ(clip.c.source_rate, w.rate);
        EXPECT_EQ(clip.c.n_channels, w.channels);
        EXPECT_EQ(clip.c.source_channels, w.channels);
        ASSERT_EQ(clip.c.n_samples * clip.c.n_channels, static_cast<int64_t>(ref.size()));
        const std::vector<float> got = clip.samples();
        for (size_t i = 0; i < ref.size(); ++i) ASSERT_EQ(got[i], ref[i]) << "sample " << i;
    }
}

// u-law: bit-exact G.711 expansion of its bytes, and within G.711's quantization error of the
// 16-bit file it was made from (SOURCES.md: conv_demo-thanks_8k_ulaw.wav = sox -e u-law of
// ast_demo-thanks.wav, dither off).
TEST(AudioDecode, UlawMatchesG711AndItsPcmSource)
{
    Wav wu, wp;
    ASSERT_TRUE(parse_wav(read_bytes(example("conv_demo-thanks_8k_ulaw.wav")), &wu));
    ASSERT_TRUE(parse_wav(read_bytes(example("ast_demo-thanks.wav")), &wp));
    ASSERT_EQ(wu.format, 7);
    const std::vector<float> g711 = wav_samples(wu), pcm = wav_samples(wp);

    Clip clip;
    char err[AFX_ERROR_MAX] = "";
    afx_audio_options o = opts(0, 0);
    ASSERT_EQ(afx_audio_load_file(example("conv_demo-thanks_8k_ulaw.wav").c_str(), &o, &clip.c, err, sizeof err), AFX_OK) << err;
    EXPECT_EQ(clip.c.sample_rate, 8000);
    ASSERT_EQ(clip.c.n_samples, static_cast<int64_t>(g711.size()));
    ASSERT_EQ(clip.c.n_samples, static_cast<int64_t>(pcm.size()));
    const std::vector<float> got = clip.samples();
    for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i], g711[i]) << "sample " << i;
        // G.711 mu-law: the code's exponent s (bits 4-6 of the inverted byte) selects a segment
        // coded in 16 steps of 2^(s+1) 14-bit units = 2^(s+3) 16-bit units; decoding to the step's
        // middle errs by at most half a step, plus up to 4 16-bit units for the encoder's 16->14-bit
        // reduction.
        const int s = (static_cast<uint8_t>(~wu.data[i]) >> 4) & 7;
        const double bound = 4.0 * (1 << s) + 4.0;
        ASSERT_LE(std::fabs(got[i] - pcm[i]) * 32768.0, bound) << "sample " << i << " pcm " << pcm[i] * 32768.0;
    }
}

// FLAC: the stated rate/channels/length, and samples on the 16-bit (24-bit) grid in [-1, 1).
TEST(AudioDecode, FlacHasStatedShapeAndBitDepth)
{
    struct Case { const char *name; int rate, channels; int64_t frames; double step; };
    // 77321 frames: SOURCES.md (the MP3 row states the FLAC source has 77321 frames); the burp's
    // 0.793 s at 44100 Hz is 34984 +- 44 frames.
    for (const Case &k : {Case{"spi_loop_amen.flac", 44100, 2, 77321, 32768.0},
                          Case{"spi_misc_burp.flac", 44100, 1, -1, 8388608.0}}) {
        SCOPED_TRACE(k.name);
        Clip clip;
        char err[AFX_ERROR_MAX] = "";
        afx_audio_options o = opts(0, 0);
        ASSERT_EQ(afx_audio_load_file(example(k.name).c_str(), &o, &clip.c, err, sizeof err), AFX_OK) << err;
        EXPECT_EQ(clip.c.sample_rate, k.rate);
        EXPECT_EQ(clip.c.n_channels, k.channels);
        if (k.frames > 0)
            EXPECT_EQ(clip.c.n_samples, k.frames);
        else
            EXPECT_NEAR(static_cast<double>(clip.c.n_samples) / k.rate, 0.793, 0.001);
        double peak = 0;
        for (float v : clip.samples()) {
            ASSERT_EQ(std::nearbyint(v * k.step), v * k.step) << v; // an integer PCM code
            ASSERT_GE(v, -1.0f);
            ASSERT_LT(v, 1.0f);
            peak = std::max(peak, std::fabs(static_cast<double>(v)));
        }
        EXPECT_GT(peak, 0.01); // real audio, not silence
    }
}

// 24- and 32-bit PCM and float WAVs written here decode to their integer codes / floats.
TEST(AudioDecode, GeneratedWavDepths)
{
    TempDir dir;
    ASSERT_FALSE(dir.path.empty());
    std::mt19937 rng(20240601u);
    SCOPED_TRACE("seed=20240601");
    const int n = 1000;
    std::vector<int32_t> codes(n);
    for (auto &c : codes) c = static_cast<int32_t>(rng());

    for (int bits : {24, 32}) {
        SCOPED_TRACE(bits);
        std::vector<uint8_t> data;
        std::vector<float> ref;
        for (int32_t c : codes) {
            const int32_t v = bits == 24 ? c >> 8 : c; // arithmetic shift keeps the sign
            for (int byte = 0; byte < bits / 8; ++byte) data.push_back(static_cast<uint8_t>(static_cast<uint32_t>(v) >> (8 * byte)));
            ref.push_back(static_cast<float>(v / (bits == 24 ? 8388608.0 : 2147483648.0)));
        }
        const std::string path = dir.file(bits == 24 ? "s24.wav" : "s32.wav");
        write_bytes(path, make_wav(1, 1, 16000, bits, data));
        Clip clip;
        char err[AFX_ERROR_MAX] = "";
        afx_audio_options o = opts(0, 0);
        ASSERT_EQ(afx_audio_load_file(path.c_str(), &o, &clip.c, err, sizeof err), AFX_OK) << err;
        ASSERT_EQ(clip.c.n_samples, n);
        const std::vector<float> got = clip.samples();
        // libsndfile converts in float arithmetic; 24-bit codes are exact in float32, 32-bit
        // codes are within float32 rounding (2^-24 relative, 2^-31 absolute for tiny codes).
        for (int i = 0; i < n; ++i) ASSERT_NEAR(got[i], ref[i], std::fabs(ref[i]) * 1.2e-7 + 1e-9) << "sample " << i;
    }

    std::vector<float> fl(n);
    std::uniform_real_distribution<float> uni(-1.5f, 1.5f); // float WAVs may exceed [-1, 1]
    for (auto &v : fl) v = uni(rng);
    const std::string path = dir.file("f32.wav");
    write_bytes(path, make_wav(3, 1, 16000, 32, float_bytes(fl)));
    Clip clip;
    char err[AFX_ERROR_MAX] = "";
    afx_audio_options o = opts(0, 0);
    ASSERT_EQ(afx_audio_load_file(path.c_str(), &o, &clip.c, err, sizeof err), AFX_OK) << err;
    EXPECT_EQ(clip.samples(), fl);
}

// Opus: none of the example clips is Opus, so the test encodes one with libsndfile (Ogg/Opus at 48 kHz)
// and checks that afx decodes it: rate, length (Opus pre-skip handled; the encoder may pad up to one
// 20 ms frame) and content. Opus is lossy, so the content check is a least-squares fit of the known
// 440 Hz sine over the middle of the clip: the fitted amplitude within 5% and an SNR of at least 20 dB
// (the default Opus bitrate reaches far more on a pure tone; 20 dB already rules out a wrong rate,
// channel layout, or garbage).
TEST(AudioDecode, OpusRoundTrip)
{
    TempDir dir;
    ASSERT_FALSE(dir.path.empty());
    const std::string path = dir.file("tone.opus");
    const int rate = 48000, n = 48000;
    const double amp = 0.5, freq = 440.0;
    std::vector<float> tone(n);
    for (int i = 0; i < n; ++i) tone[i] = static_cast<float>(amp * std::sin(2 * kPi * freq * i / rate));
    SF_INFO info;
    std::memset(&info, 0, sizeof info);
    info.samplerate = rate;
    info.channels = 1;
    info.format = SF_FORMAT_OGG | SF_FORMAT_OPUS;
    SNDFILE *sf = sf_open(path.c_str(), SFM_WRITE, &info);
    if (!sf) GTEST_SKIP() << "this libsndfile cannot write Ogg/Opus: " << sf_strerror(nullptr);
    ASSERT_EQ(sf_writef_float(sf, tone.data(), n), n);
    ASSERT_EQ(sf_close(sf), 0);

    Clip clip;
    char err[AFX_ERROR_MAX] = "";
    afx_audio_options o = opts(0, 0);
    ASSERT_EQ(afx_audio_load_file(path.c_str(), &o, &clip.c, err, sizeof err), AFX_OK) << err;
    EXPECT_EQ(clip.c.sample_rate, rate);
    EXPECT_EQ(clip.c.n_channels, 1);
    ASSERT_GE(clip.c.n_samples, n);
    ASSERT_LE(clip.c.n_samples, n + 960);
    const std::vector<float> got = clip.samples();
    double ss = 0, sc = 0, cc = 0, ys = 0, yc = 0, yy = 0;
    for (int i = n / 4; i < 3 * n / 4; ++i) {
        const double a = 2 * kPi * freq * i / rate, si = std::sin(a), co = std::cos(a), y = got[i];
        ss += si * si; sc += si * co; cc += co * co; ys += y * si; yc += y * co; yy += y * y;
    }
    const double det = ss * cc - sc * sc;
    const double bs = (ys * cc - yc * sc) / det, bc = (yc * ss - ys * sc) / det;
    const double fitted = std::sqrt(bs * bs + bc * bc);
    const double signal = bs * ys + bc * yc, noise = yy - signal;
    EXPECT_NEAR(fitted, amp, 0.05 * amp);
    EXPECT_GT(10 * std::log10(signal / std::max(noise, 1e-30)), 20.0);

    Clip resampled;
    afx_audio_options o16 = opts(16000, 1);
    ASSERT_EQ(afx_audio_load_file(path.c_str(), &o16, &resampled.c, err, sizeof err), AFX_OK) << err;
    EXPECT_EQ(resampled.c.n_samples, (clip.c.n_samples * 16000 + rate - 1) / rate);
}

// Every example decodes (all formats: WAV PCM/u8/u-law, FLAC 16/24, Vorbis, MP3) with the stated
// rate and channel count, and resamples to ceil(n * 16000 / rate) mono samples.
TEST(AudioDecode, EveryExampleDecodesAndResamples)
{
    struct Case { const char *name; int rate, channels; double seconds; };
    const Case cases[] = {
        {"alsa_Front_Center.wav", 48000, 1, 1.428},        {"ast_demo-thanks.wav", 8000, 1, 5.518},
        {"spi_loop_amen.flac", 44100, 2, 1.753},           {"spi_misc_burp.flac", 44100, 1, 0.793},
        {"fdo_service-login.oga", 22050, 2, 2.180},        {"fdo_dialog-information.oga", 44100, 2, 0.061},
        {"conv_loop_amen_44k.mp3", 44100, 2, 1.753},       {"conv_demo-thanks_8k_ulaw.wav", 8000, 1, 5.518},
        {"conv_perc_door_22k_u8.wav", 22050, 1, 2.449},    {"tts_espeak-ng_en-us.wav", 22050, 1, 4.741},
        {"fdo_camera-shutter.oga", 96000, 2, 0.872},
    };
    for (const Case &k : cases) {
        SCOPED_TRACE(k.name);
        Clip native, resampled;
        char err[AFX_ERROR_MAX] = "";
        afx_audio_options o0 = opts(0, 0), o16 = opts(16000, 1);
        ASSERT_EQ(afx_audio_load_file(example(k.name).c_str(), &o0, &native.c, err, sizeof err), AFX_OK) << err;
        EXPECT_EQ(native.c.sample_rate, k.rate);
        EXPECT_EQ(native.c.n_channels, k.channels);
        EXPECT_NEAR(static_cast<double>(native.c.n_samples) / k.rate, k.seconds, 0.0015);

        ASSERT_EQ(afx_audio_load_file(example(k.name).c_str(), &o16, &resampled.c, err, sizeof err), AFX_OK) << err;
        EXPECT_EQ(resampled.c.sample_rate, 16000);
        EXPECT_EQ(resampled.c.source_rate, k.rate);
        EXPECT_EQ(resampled.c.n_channels, 1);
        EXPECT_EQ(resampled.c.source_channels, k.channels);
        EXPECT_EQ(resampled.c.n_samples, ceil_div(native.c.n_samples * 16000, k.rate));
        for (float v : resampled.samples()) ASSERT_TRUE(std::isfinite(v));
    }
    // SOURCES.md: the short click is 971 samples at 16 kHz.
    Clip click;
    afx_audio_options o16 = opts(16000, 1);
    ASSERT_EQ(afx_audio_load_file(example("fdo_dialog-information.oga").c_str(), &o16, &click.c, nullptr, 0), AFX_OK);
    EXPECT_EQ(click.c.n_samples, 971);
}

// Downmix is the float32 mean of the channels of the non-downmixed decode (librosa.to_mono).
TEST(AudioDecode, DownmixIsChannelMean)
{
    for (const char *name : {"spi_loop_amen.flac", "fdo_service-login.oga", "conv_loop_amen_44k.mp3"}) {
        SCOPED_TRACE(name);
        Clip stereo, mono;
        char err[AFX_ERROR_MAX] = "";
        afx_audio_options o_st = opts(0, 0), o_mono = opts(0, 1);
        ASSERT_EQ(afx_audio_load_file(example(name).c_str(), &o_st, &stereo.c, err, sizeof err), AFX_OK) << err;
        ASSERT_EQ(afx_audio_load_file(example(name).c_str(), &o_mono, &mono.c, err, sizeof err), AFX_OK) << err;
        ASSERT_EQ(stereo.c.n_channels, 2);
        ASSERT_EQ(mono.c.n_channels, 1);
        ASSERT_EQ(mono.c.n_samples, stereo.c.n_samples);
        for (int64_t i = 0; i < mono.c.n_samples; ++i) {
            const float mean = (stereo.c.samples[2 * i] + stereo.c.samples[2 * i + 1]) / 2.0f;
            ASSERT_EQ(mono.c.samples[i], mean) << "sample " << i;
        }
    }
}

// load_memory on a file's bytes gives exactly what load_file gives, for every format.
TEST(AudioDecode, MemoryEqualsFile)
{
    for (const auto &entry : fs::directory_iterator(AFX_EXAMPLES_DIR)) {
        const std::string path = entry.path().string();
        if (entry.path().extension() == ".md") continue;
        SCOPED_TRACE(path);
        const std::vector<uint8_t> bytes = read_bytes(path);
        for (int target : {0, 16000}) {
            Clip from_file, from_mem;
            char err[AFX_ERROR_MAX] = "";
            afx_audio_options o = opts(target, target ? 1 : 0);
            ASSERT_EQ(afx_audio_load_file(path.c_str(), &o, &from_file.c, err, sizeof err), AFX_OK) << err;
            ASSERT_EQ(afx_audio_load_memory(bytes.data(), bytes.size(), "buf", &o, &from_mem.c, err, sizeof err), AFX_OK) << err;
            EXPECT_EQ(from_mem.c.n_samples, from_file.c.n_samples);
            EXPECT_EQ(from_mem.c.n_channels, from_file.c.n_channels);
            EXPECT_EQ(from_mem.c.sample_rate, from_file.c.sample_rate);
            EXPECT_EQ(from_mem.c.source_rate, from_file.c.source_rate);
            EXPECT_EQ(from_mem.c.source_channels, from_file.c.source_channels);
            EXPECT_TRUE(from_mem.samples() == from_file.samples());
        }
    }
}

// ================================================================================================
// Resampling against analytic signals
// ================================================================================================

std::vector<float> sine(int64_t n, double freq, int rate, double amp = 0.5, double phase = 0.0)
{
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(amp * std::sin(2 * kPi * freq * i / rate + phase));
    return x;
}

// Output length is ceil(n * out / in); away from the edges a 1 kHz sine comes out as the same sine
// sampled at the new rate.
//
// Bound: 1 kHz is far inside soxr HQ's passband (passband end ~0.913 x 8 kHz = 7.3 kHz at 16 kHz).
// SOXR_HQ is libsoxr's 20-bit recipe (libsoxr 0.1.3 src/soxr.c lines 119-126, soxr_quality_spec: precision 20 bits,
// rejection 20 x 6.02 = 120.4 dB), so passband ripple, aliasing and imaging stay near 2^-20 =
// 9.5e-7 of full scale; the float32 input and output add at most 2^-25 each at amplitude 0.5.
// 2e-6 is about twice that budget (measured: <= 4e-7). The first and last 400 output samples
// (25 ms) are skipped: the filter's response to the sine switching on and off lives there.
TEST(AudioResample, SineMatchesAnalyticAtNewRate)
{
    const int out = 16000;
    const int64_t edge = 400;
    for (int in : {44100, 8000, 48000, 22050, 96000}) {
        SCOPED_TRACE(in);
        const int64_t n = in + 123; // not a whole number of output periods
        const std::vector<float> x = sine(n, 1000.0, in);
        float *y = nullptr;
        int64_t m = 0;
        char err[AFX_ERROR_MAX] = "";
        ASSERT_EQ(afx_audio_resample(x.data(), n, 1, in, out, &y, &m, err, sizeof err), AFX_OK) << err;
        EXPECT_EQ(m, ceil_div(n * out, in));
        double worst = 0;
        for (int64_t k = edge; k < m - edge; ++k)
            worst = std::max(worst, std::fabs(y[k] - 0.5 * std::sin(2 * kPi * 1000.0 * k / out)));
        EXPECT_LT(worst, 2e-6);
        free(y);
    }
}

// Interleaved channels are resampled independently: each matches its own analytic sine.
TEST(AudioResample, StereoChannelsStayApart)
{
    const int in = 44100, out = 16000;
    const int64_t n = 30000, edge = 400;
    const std::vector<float> a = sine(n, 1000.0, in), b = sine(n, 440.0, in, 0.25, 1.0);
    std::vector<float> x(static_cast<size_t>(2 * n));
    for (int64_t i = 0; i < n; ++i) x[2 * i] = a[i], x[2 * i + 1] = b[i];
    float *y = nullptr;
    int64_t m = 0;
    ASSERT_EQ(afx_audio_resample(x.data(), n, 2, in, out, &y, &m, nullptr, 0), AFX_OK);
    ASSERT_EQ(m, ceil_div(n * out, in));
    for (int64_t k = edge; k < m - edge; ++k) {
        ASSERT_NEAR(y[2 * k], 0.5 * std::sin(2 * kPi * 1000.0 * k / out), 2e-6) << k;
        ASSERT_NEAR(y[2 * k + 1], 0.25 * std::sin(2 * kPi * 440.0 * k / out + 1.0), 2e-6) << k;
    }
    free(y);
}

// A tone above the new Nyquist frequency is removed: soxr HQ's stopband starts at the output
// Nyquist and rejects 20 bits x 6.02 = 120.4 dB (libsoxr 0.1.3 src/soxr.c lines 119-126), so the output's RMS,
// away from the edges, is at least 120 dB below the input's (measured: >= 140 dB).
TEST(AudioResample, ToneAboveNewNyquistIsRejected)
{
    struct Case { int in; double tone; };
    for (const Case &k : {Case{44100, 12000.0}, Case{48000, 12000.0}, Case{22050, 9000.0}, Case{96000, 20000.0}}) {
        SCOPED_TRACE(k.in);
        const int64_t n = k.in, edge = 400;
        const std::vector<float> x = sine(n, k.tone, k.in);
        float *y = nullptr;
        int64_t m = 0;
        ASSERT_EQ(afx_audio_resample(x.data(), n, 1, k.in, 16000, &y, &m, nullptr, 0), AFX_OK);
        double energy = 0;
        for (int64_t i = edge; i < m - edge; ++i) energy += static_cast<double>(y[i]) * y[i];
        const double rms = std::sqrt(energy / static_cast<double>(m - 2 * edge));
        const double db = 20 * std::log10(rms / (0.5 / std::sqrt(2.0)) + 1e-300);
        EXPECT_LT(db, -120.0);
        free(y);
    }
}

// Output length is ceil(n * out / in) for random lengths and rate pairs; equal rates copy.
TEST(AudioResample, LengthsAndIdentity)
{
    const unsigned seed = 77u;
    SCOPED_TRACE("seed=77");
    std::mt19937 rng(seed);
    const int rates[] = {8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000};
    std::uniform_int_distribution<int64_t> len(1, 20000);
    std::uniform_int_distribution<int> pick(0, 7);
    for (int t = 0; t < 20; ++t) {
        const int64_t n = len(rng);
        const int in = rates[pick(rng)], out = rates[pick(rng)];
        SCOPED_TRACE(std::to_string(n) + " samples " + std::to_string(in) + " -> " + std::to_string(out));
        const std::vector<float> x = sine(n, 300.0, in);
        float *y = nullptr;
        int64_t m = -1;
        ASSERT_EQ(afx_audio_resample(x.data(), n, 1, in, out, &y, &m, nullptr, 0), AFX_OK);
        ASSERT_EQ(m, ceil_div(n * out, in));
        ASSERT_NE(y, nullptr);
        if (in == out) {
            EXPECT_EQ(std::vector<float>(y, y + m), x);
        }
        free(y);
    }
    float *y = reinterpret_cast<float *>(1);
    int64_t m = -1;
    ASSERT_EQ(afx_audio_resample(nullptr, 0, 1, 44100, 16000, &y, &m, nullptr, 0), AFX_OK);
    EXPECT_EQ(m, 0);
    EXPECT_EQ(y, nullptr);
}

// Inputs of 1..48 frames, where the whole output is a handful of frames and libsoxr's flush fills the
// buffer to its last frame: afx_audio_resample, and a float WAV of the same samples through the loader
// and a reused decoder, equal python-soxr's call sequence (with librosa's fix_length) exactly, for 1 to 3
// channels. Run under Valgrind too (ctest memcheck_audio_resample_short): libsoxr reads a pointer per
// channel at the output address it is given, which must stay inside the buffer (AFX_RESAMPLE_SPARE_FRAMES).
TEST(AudioResample, ShortInputsMatchPythonSoxr)
{
    struct Rates { int in, out; };
    const Rates pairs[] = {{44100, 16000}, {16000, 44100}, {48000, 22050}, {8000, 16000}};
    std::mt19937 rng(2026u);
    std::uniform_real_distribution<float> u(-0.9f, 0.9f);
    afx_audio_decoder *dec = nullptr;
    ASSERT_EQ(afx_audio_decoder_create(&dec, nullptr, 0), AFX_OK);
    const std::unique_ptr<afx_audio_decoder, void (*)(afx_audio_decoder *)> owner(dec, afx_audio_decoder_free);
    for (const Rates &r : pairs) {
        for (int ch = 1; ch <= 3; ++ch) {
            for (int64_t n = 1; n <= 48; ++n) {
                SCOPED_TRACE(std::to_string(n) + " frames x " + std::to_string(ch) + " channels, " +
                             std::to_string(r.in) + " -> " + std::to_string(r.out));
                std::vector<float> x(static_cast<size_t>(n * ch));
                for (float &v : x) v = u(rng);
                const std::vector<float> want = python_soxr_resample(x, ch, r.in, r.out);
                ASSERT_EQ(static_cast<int64_t>(want.size()), ceil_div(n * r.out, r.in) * ch);
                float *y = nullptr;
                int64_t m = 0;
                ASSERT_EQ(afx_audio_resample(x.data(), n, ch, r.in, r.out, &y, &m, nullptr, 0), AFX_OK);
                EXPECT_TRUE(std::vector<float>(y, y + m * ch) == want);
                free(y);
                const std::vector<uint8_t> wav = make_wav(3, ch, r.in, 32, float_bytes(x));
                const afx_audio_options o = opts(r.out, 0);
                Clip once;
                char err[AFX_ERROR_MAX] = "";
                ASSERT_EQ(afx_audio_load_memory(wav.data(), wav.size(), "short.wav", &o, &once.c, err, sizeof err),
                          AFX_OK) << err;
                EXPECT_TRUE(once.samples() == want);
                afx_audio_clip lent;
                ASSERT_EQ(afx_audio_decoder_load_memory(dec, wav.data(), wav.size(), "short.wav", &o, &lent, err,
                                                        sizeof err), AFX_OK) << err;
                EXPECT_TRUE(std::vector<float>(lent.samples, lent.samples + lent.n_samples * lent.n_channels) == want);
            }
        }
    }
}

// ================================================================================================
// Errors
// ================================================================================================

afx_status load_expecting_failure(const std::string &path, const afx_audio_options &o, char *err, size_t n)
{
    afx_audio_clip c;
    poison(&c);
    const afx_status st = afx_audio_load_file(path.c_str(), &o, &c, err, n);
    EXPECT_TRUE(is_zeroed(c));
    afx_audio_clip_free(&c);
    return st;
}

TEST(AudioErrors, MissingFileIsIoNamingThePath)
{
    TempDir dir;
    const std::string path = dir.file("does-not-exist.wav");
    char err[AFX_ERROR_MAX] = "";
    EXPECT_EQ(load_expecting_failure(path, opts(16000, 1), err, sizeof err), AFX_ERR_IO);
    EXPECT_TRUE(contains(err, path)) << err;
    EXPECT_TRUE(contains(err, "No such file")) << err;
    // A directory cannot be read either.
    EXPECT_EQ(load_expecting_failure(dir.path, opts(16000, 1), err, sizeof err), AFX_ERR_IO);
    EXPECT_TRUE(contains(err, dir.path)) << err;
}

TEST(AudioErrors, RandomBytesAreDecodeError)
{
    TempDir dir;
    const unsigned seed = 12345u;
    SCOPED_TRACE("seed=12345");
    std::mt19937 rng(seed);
    std::vector<uint8_t> junk(4096);
    for (auto &b : junk) b = static_cast<uint8_t>(rng());
    const std::string path = dir.file("junk.wav");
    write_bytes(path, junk);
    char err[AFX_ERROR_MAX] = "";
    EXPECT_EQ(load_expecting_failure(path, opts(16000, 1), err, sizeof err), AFX_ERR_DECODE);
    EXPECT_TRUE(contains(err, path)) << err;

    // Same bytes from memory: the caller's name, or "<memory>".
    Clip clip;
    afx_audio_options o = opts(16000, 1);
    EXPECT_EQ(afx_audio_load_memory(junk.data(), junk.size(), "upload-7", &o, &clip.c, err, sizeof err), AFX_ERR_DECODE);
    EXPECT_TRUE(contains(err, "upload-7")) << err;
    EXPECT_EQ(afx_audio_load_memory(junk.data(), junk.size(), nullptr, &o, &clip.c, err, sizeof err), AFX_ERR_DECODE);
    EXPECT_TRUE(contains(err, "<memory>")) << err;
    EXPECT_EQ(afx_audio_load_memory(junk.data(), 0, nullptr, &o, &clip.c, err, sizeof err), AFX_ERR_DECODE);
    EXPECT_TRUE(is_zeroed(clip.c));

    // An empty file is not audio.
    const std::string empty = dir.file("empty.wav");
    write_bytes(empty, {});
    EXPECT_EQ(load_expecting_failure(empty, opts(16000, 1), err, sizeof err), AFX_ERR_DECODE);
    EXPECT_TRUE(contains(err, empty)) << err;
}

TEST(AudioErrors, TruncatedFilesAreDecodeErrors)
{
    TempDir dir;
    char err[AFX_ERROR_MAX] = "";

    // A valid 16-bit WAV of 8000 frames, cut in the middle of its data chunk.
    std::vector<uint8_t> pcm;
    for (int i = 0; i < 8000; ++i) put16(pcm, static_cast<unsigned>(static_cast<int16_t>(i * 7)) & 0xFFFF);
    std::vector<uint8_t> wav = make_wav(1, 1, 16000, 16, pcm);
    const std::string whole = dir.file("whole.wav"), cut = dir.file("cut.wav");
    write_bytes(whole, wav);
    wav.resize(wav.size() - 5001); // odd: also cuts a frame in half
    write_bytes(cut, wav);
    {
        Clip ok;
        afx_audio_options o = opts(0, 1);
        ASSERT_EQ(afx_audio_load_file(whole.c_str(), &o, &ok.c, err, sizeof err), AFX_OK) << err;
        EXPECT_EQ(ok.c.n_samples, 8000);
    }
    EXPECT_EQ(load_expecting_failure(cut, opts(0, 1), err, sizeof err), AFX_ERR_DECODE);
    EXPECT_TRUE(contains(err, cut)) << err;
    EXPECT_TRUE(contains(err, "truncated")) << err;

    // The same from memory.
    Clip clip;
    afx_audio_options o = opts(16000, 1);
    EXPECT_EQ(afx_audio_load_memory(wav.data(), wav.size(), "cut-buffer", &o, &clip.c, err, sizeof err), AFX_ERR_DECODE);
    EXPECT_TRUE(contains(err, "cut-buffer") && contains(err, "truncated")) << err;

    // Compressed files cut in half: FLAC (decoder loses sync) and MP3 (fewer frames than the
    // header's count).
    for (const char *name : {"spi_loop_amen.flac", "conv_loop_amen_44k.mp3"}) {
        SCOPED_TRACE(name);
        std::vector<uint8_t> bytes = read_bytes(example(name));
        bytes.resize(bytes.size() / 2);
        const std::string path = dir.file(name);
        write_bytes(path, bytes);
        EXPECT_EQ(load_expecting_failure(path, opts(16000, 1), err, sizeof err), AFX_ERR_DECODE);
        EXPECT_TRUE(contains(err, path)) << err;
        EXPECT_TRUE(contains(err, "truncated")) << err;
    }
}

TEST(AudioErrors, NonFiniteSamplesAreRefused)
{
    TempDir dir;
    const float bad[] = {std::nanf(""), INFINITY, -INFINITY};
    const char *names[] = {"nan.wav", "inf.wav", "neginf.wav"};
    for (int t = 0; t < 3; ++t) {
        SCOPED_TRACE(names[t]);
        std::vector<float> x = sine(2000, 440.0, 16000);
        x[1234] = bad[t];
        const std::string path = dir.file(names[t]);
        write_bytes(path, make_wav(3, 1, 16000, 32, float_bytes(x)));
        char err[AFX_ERROR_MAX] = "";
        EXPECT_EQ(load_expecting_failure(path, opts(16000, 1), err, sizeof err), AFX_ERR_INVALID_INPUT);
        EXPECT_TRUE(contains(err, path)) << err;
        EXPECT_TRUE(contains(err, "1234")) << err;
    }
}

TEST(AudioErrors, EmptyWavIsNotAnError)
{
    TempDir dir;
    const std::string path = dir.file("empty-data.wav");
    write_bytes(path, make_wav(1, 2, 44100, 16, {}));
    for (int target : {0, 16000}) {
        Clip clip;
        poison(&clip.c);
        char err[AFX_ERROR_MAX] = "";
        afx_audio_options o = opts(target, 1);
        ASSERT_EQ(afx_audio_load_file(path.c_str(), &o, &clip.c, err, sizeof err), AFX_OK) << err;
        EXPECT_EQ(clip.c.n_samples, 0);
        EXPECT_EQ(clip.c.samples, nullptr);
        EXPECT_EQ(clip.c.source_rate, 44100);
        EXPECT_EQ(clip.c.source_channels, 2);
        EXPECT_EQ(clip.c.sample_rate, target ? target : 44100);
    }
}

TEST(AudioErrors, NullArguments)
{
    afx_audio_options o = opts(16000, 1);
    const std::string path = example("alsa_Front_Center.wav");
    const std::vector<uint8_t> bytes = read_bytes(path);
    Clip clip;
    char err[AFX_ERROR_MAX] = "";
    EXPECT_EQ(afx_audio_load_file(nullptr, &o, &clip.c, err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_audio_load_file(path.c_str(), nullptr, &clip.c, err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_audio_load_file(path.c_str(), &o, nullptr, err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_audio_load_memory(nullptr, 10, "x", &o, &clip.c, err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_audio_load_memory(bytes.data(), bytes.size(), "x", nullptr, &clip.c, err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_audio_load_memory(bytes.data(), bytes.size(), "x", &o, nullptr, err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    const float x[4] = {0, 0, 0, 0};
    float *y = nullptr;
    int64_t m = 0;
    EXPECT_EQ(afx_audio_resample(nullptr, 4, 1, 8000, 16000, &y, &m, err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_audio_resample(x, 4, 1, 8000, 16000, nullptr, &m, err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_audio_resample(x, 4, 1, 8000, 16000, &y, nullptr, err, sizeof err), AFX_ERR_NULL_ARGUMENT);
    // A NULL or zero-sized message buffer is fine.
    EXPECT_EQ(afx_audio_load_file(nullptr, &o, &clip.c, nullptr, 0), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_audio_load_file("/nonexistent/afx.wav", &o, &clip.c, err, 0), AFX_ERR_IO);
    afx_audio_clip_free(nullptr);
    afx_audio_options_init(nullptr);
}

TEST(AudioErrors, InvalidOptionsAndResampleArguments)
{
    const std::string path = example("alsa_Front_Center.wav");
    char err[AFX_ERROR_MAX] = "";
    for (afx_audio_options o : {opts(999, 1), opts(1000001, 1), opts(-16000, 1), opts(16000, 2), opts(16000, 1, -1)}) {
        EXPECT_EQ(load_expecting_failure(path, o, err, sizeof err), AFX_ERR_INVALID_PARAM);
        EXPECT_TRUE(contains(err, path)) << err;
    }
    const float x[4] = {0, 0, 0, 0};
    float *y = nullptr;
    int64_t m = 0;
    EXPECT_EQ(afx_audio_resample(x, -1, 1, 8000, 16000, &y, &m, err, sizeof err), AFX_ERR_INVALID_INPUT);
    EXPECT_EQ(afx_audio_resample(x, 4, 0, 8000, 16000, &y, &m, err, sizeof err), AFX_ERR_INVALID_INPUT);
    EXPECT_EQ(afx_audio_resample(x, 4, 1, 0, 16000, &y, &m, err, sizeof err), AFX_ERR_INVALID_PARAM);
    EXPECT_EQ(afx_audio_resample(x, 4, 1, 8000, -5, &y, &m, err, sizeof err), AFX_ERR_INVALID_PARAM);
    EXPECT_EQ(y, nullptr);
    EXPECT_EQ(m, 0);
}

// max_samples counts samples per channel after resampling: alsa_Front_Center.wav has 68545 frames
// at 48 kHz (its own header, parsed here), i.e. ceil(68545 / 3) = 22849 at 16 kHz.
TEST(AudioErrors, MaxSamplesExceeded)
{
    const std::string path = example("alsa_Front_Center.wav");
    Wav w;
    ASSERT_TRUE(parse_wav(read_bytes(path), &w));
    const int64_t frames = static_cast<int64_t>(w.data.size()) / (w.bits / 8) / w.channels;
    const int64_t at16k = ceil_div(frames * 16000, w.rate);
    char err[AFX_ERROR_MAX] = "";
    EXPECT_EQ(load_expecting_failure(path, opts(16000, 1, at16k - 1), err, sizeof err), AFX_ERR_EXCEEDS_PLAN);
    EXPECT_TRUE(contains(err, path)) << err;
    EXPECT_EQ(load_expecting_failure(path, opts(0, 1, frames - 1), err, sizeof err), AFX_ERR_EXCEEDS_PLAN);

    Clip ok, ok_native;
    afx_audio_options o = opts(16000, 1, at16k), o_native = opts(0, 1, frames);
    ASSERT_EQ(afx_audio_load_file(path.c_str(), &o, &ok.c, err, sizeof err), AFX_OK) << err;
    EXPECT_EQ(ok.c.n_samples, at16k);
    ASSERT_EQ(afx_audio_load_file(path.c_str(), &o_native, &ok_native.c, err, sizeof err), AFX_OK) << err;
    EXPECT_EQ(ok_native.c.n_samples, frames);
}

TEST(AudioErrors, ClipFreeIsSafe)
{
    afx_audio_clip_free(nullptr);
    Clip clip;
    afx_audio_options o = opts(16000, 1);
    ASSERT_EQ(afx_audio_load_file(example("spi_misc_burp.flac").c_str(), &o, &clip.c, nullptr, 0), AFX_OK);
    afx_audio_clip_free(&clip.c);
    EXPECT_TRUE(is_zeroed(clip.c));
    afx_audio_clip_free(&clip.c); // twice is fine: the clip was zeroed
}

// The header promises thread safety: concurrent loads (successes and failures, files and memory)
// give what the same loads give one at a time.
TEST(AudioThreads, ConcurrentLoadsAgreeWithSequential)
{
    const char *names[] = {"spi_loop_amen.flac", "fdo_service-login.oga", "conv_loop_amen_44k.mp3",
                           "alsa_Front_Center.wav"};
    std::vector<std::vector<float>> expected;
    for (const char *name : names) {
        Clip c;
        afx_audio_options o = opts(16000, 1);
        ASSERT_EQ(afx_audio_load_file(example(name).c_str(), &o, &c.c, nullptr, 0), AFX_OK);
        expected.push_back(c.samples());
    }
    const std::vector<uint8_t> junk(512, 0x42);
    std::vector<int> failures(8, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int rep = 0; rep < 3; ++rep) {
                const int k = (t + rep) % 4;
                Clip c;
                char err[AFX_ERROR_MAX] = "";
                afx_audio_options o = opts(16000, 1);
                if (afx_audio_load_file(example(names[k]).c_str(), &o, &c.c, err, sizeof err) != AFX_OK ||
                    c.samples() != expected[static_cast<size_t>(k)])
                    ++failures[static_cast<size_t>(t)];
                Clip bad;
                if (afx_audio_load_memory(junk.data(), junk.size(), "junk", &o, &bad.c, err, sizeof err) != AFX_ERR_DECODE ||
                    !contains(err, "junk: cannot decode"))
                    ++failures[static_cast<size_t>(t)];
            }
        });
    }
    for (auto &th : threads) th.join();
    for (int t = 0; t < 8; ++t) EXPECT_EQ(failures[static_cast<size_t>(t)], 0) << "thread " << t;
}

} // namespace
