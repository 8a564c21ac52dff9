// afx_audio_options.threads = 2: a long resampled window is decoded and downmixed by a helper thread
// while the calling thread resamples. The result must be the one-thread result and python-soxr's on
// libsndfile's float samples (the independent reference), for every kind of window, and the errors
// must be the same.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include <sndfile.h>

#include "afx_audio.h"
#include "audio_util.h"

namespace {

using namespace audio_test;

struct Loaded {
    afx_status status;
    std::string err;
    std::vector<float> samples;
};

Loaded load(const std::string &path, afx_audio_options o, int threads)
{
    o.threads = threads;
    Clip c;
    char err[AFX_ERROR_MAX] = "";
    Loaded r;
    r.status = afx_audio_load_file(path.c_str(), &o, &c.c, err, sizeof err);
    r.err = err;
    r.samples = c.samples();
    return r;
}

// A 16-bit (or float) file of `seconds` of noise plus a tone, written with libsndfile; returns its
// samples as libsndfile's float read gives them.
std::vector<float> write_clip(const std::string &path, int format, int rate, int ch, double seconds, unsigned seed)
{
    const sf_count_t n = static_cast<sf_count_t>(seconds * rate);
    std::vector<float> x(static_cast<size_t>(n) * static_cast<size_t>(ch));
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-0.2f, 0.2f);
    for (sf_count_t i = 0; i < n; ++i)
        for (int c = 0; c < ch; ++c)
            x[static_cast<size_t>(i * ch + c)] = u(rng) + 0.5f * static_cast<float>(std::sin(0.01 * static_cast<double>(i) * (c + 1)));
    SF_INFO info{};
    info.samplerate = rate;
    info.channels = ch;
    info.format = format;
    SNDFILE *sf = sf_open(path.c_str(), SFM_WRITE, &info);
    if (!sf) return {};
    sf_writef_float(sf, x.data(), n);
    sf_close(sf);
    SF_INFO rinfo{};
    sf = sf_open(path.c_str(), SFM_READ, &rinfo);
    if (!sf) return {};
    std::vector<float> back(static_cast<size_t>(rinfo.frames * rinfo.channels));
    sf_readf_float(sf, back.data(), rinfo.frames);
    sf_close(sf);
    return back;
}

TEST(AudioHelperThread, LongWindowEqualsOneThreadAndPythonSoxr)
{
    TempDir dir;
    struct Case {
        const char *file;
        int format, rate, ch;
        double seconds, offset, duration;
        int target;
    };
    const Case cases[] = {
        {"a.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 41.3, 0.0, 0.0, 16000},
        {"b.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 48000, 1, 33.0, 0.0, 0.0, 22050},
        {"c.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 22050, 3, 45.0, 2.5, 31.25, 16000},
        {"d.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_24, 8000, 2, 36.0, 0.125, 0.0, 44100},
    };
    for (const Case &k : cases) {
        SCOPED_TRACE(k.file);
        const std::string path = dir.file(k.file);
        const std::vector<float> x = write_clip(path, k.format, k.rate, k.ch, k.seconds, 99u);
        ASSERT_FALSE(x.empty());
        // librosa.load: skip int(offset * rate) frames, keep int(duration * rate), to_mono, resample
        const size_t first = static_cast<size_t>(k.offset * k.rate) * static_cast<size_t>(k.ch);
        size_t last = x.size();
        if (k.duration > 0) last = std::min(last, first + static_cast<size_t>(k.duration * k.rate) * static_cast<size_t>(k.ch));
        const std::vector<float> window(x.begin() + static_cast<std::ptrdiff_t>(first), x.begin() + static_cast<std::ptrdiff_t>(last));
        const std::vector<float> ref = python_soxr_resample(mono_mean(window, k.ch), 1, k.rate, k.target);

        afx_audio_options o = opts(k.target, 1);
        o.offset_seconds = k.offset;
        o.duration_seconds = k.duration;
        const Loaded one = load(path, o, 1), two = load(path, o, 2);
        ASSERT_EQ(one.status, AFX_OK) << one.err;
        ASSERT_EQ(two.status, AFX_OK) << two.err;
        EXPECT_TRUE(two.samples == one.samples);
        EXPECT_TRUE(two.samples == ref);
    }
}

// A reused decoder alternates threaded and one-thread loads of long and short clips; each result is
// what a fresh one-thread load gives.
TEST(AudioHelperThread, ReusedDecoderMixesLongAndShort)
{
    TempDir dir;
    const std::string long_path = dir.file("long.wav"), short_path = dir.file("short.wav");
    ASSERT_FALSE(write_clip(long_path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 31.0, 1u).empty());
    ASSERT_FALSE(write_clip(short_path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 3.0, 2u).empty());
    const afx_audio_options base = opts(16000, 1);
    const std::vector<float> want_long = load(long_path, base, 1).samples, want_short = load(short_path, base, 1).samples;
    ASSERT_FALSE(want_long.empty());
    afx_audio_decoder *dec = nullptr;
    char cerr[AFX_ERROR_MAX] = "";
    ASSERT_EQ(afx_audio_decoder_create(&dec, cerr, sizeof cerr), AFX_OK) << cerr;
    for (int round = 0; round < 3; ++round) {
        for (const auto &p : {std::make_pair(&long_path, &want_long), std::make_pair(&short_path, &want_short)}) {
            afx_audio_options o = base;
            o.threads = round == 1 ? 1 : 2;
            afx_audio_clip c;
            char err[AFX_ERROR_MAX] = "";
            ASSERT_EQ(afx_audio_decoder_load_file(dec, p.first->c_str(), &o, &c, err, sizeof err), AFX_OK) << err;
            EXPECT_TRUE(std::vector<float>(c.samples, c.samples + c.n_samples) == *p.second) << *p.first << " round " << round;
        }
    }
    afx_audio_decoder_free(dec);
}

// The helper's errors reach the caller as on one thread: a WAV cut short of its header's length, a
// FLAC cut in the middle of a frame, and a NaN in a float file (found by the scan of the output,
// explained from the source).
TEST(AudioHelperThread, ErrorsAreTheOneThreadErrors)
{
    TempDir dir;
    const std::string cut = dir.file("cut.wav");
    ASSERT_FALSE(write_clip(cut, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 40.0, 3u).empty());
    std::vector<uint8_t> bytes = read_bytes(cut);
    bytes.resize(bytes.size() - 1000003); // not a whole frame: the data chunk ends mid-sample
    write_bytes(cut, bytes);

    const std::string nan_path = dir.file("nan.wav");
    std::vector<float> x(static_cast<size_t>(44100) * 35 * 2, 0.25f);
    x[x.size() / 2 + 1] = std::nanf("");
    SF_INFO info{};
    info.samplerate = 44100;
    info.channels = 2;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE *sf = sf_open(nan_path.c_str(), SFM_WRITE, &info);
    ASSERT_NE(sf, nullptr);
    ASSERT_EQ(sf_writef_float(sf, x.data(), static_cast<sf_count_t>(x.size() / 2)), static_cast<sf_count_t>(x.size() / 2));
    sf_close(sf);

    const std::string flac = dir.file("cut.flac"); // STREAMINFO promises 40 s, half the frames are there
    ASSERT_FALSE(write_clip(flac, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 44100, 2, 40.0, 5u).empty());
    std::vector<uint8_t> fbytes = read_bytes(flac);
    fbytes.resize(fbytes.size() / 2);
    write_bytes(flac, fbytes);

    for (const std::string &p : {cut, nan_path, flac}) {
        SCOPED_TRACE(p);
        const Loaded one = load(p, opts(16000, 1), 1), two = load(p, opts(16000, 1), 2);
        EXPECT_NE(one.status, AFX_OK);
        EXPECT_EQ(two.status, one.status);
        EXPECT_EQ(two.err, one.err);
        EXPECT_TRUE(contains(two.err.c_str(), p)) << two.err;
    }
}

TEST(AudioHelperThread, OutOfRangeIsRefused)
{
    TempDir dir;
    const std::string path = dir.file("a.wav");
    ASSERT_FALSE(write_clip(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, 0.5, 4u).empty());
    for (int bad : {-1, 3, 64}) {
        const Loaded r = load(path, opts(16000, 1), bad);
        EXPECT_EQ(r.status, AFX_ERR_INVALID_PARAM);
        EXPECT_TRUE(contains(r.err.c_str(), "threads")) << r.err;
    }
    EXPECT_EQ(load(path, opts(16000, 1), 0).status, AFX_OK);
}

} // namespace
