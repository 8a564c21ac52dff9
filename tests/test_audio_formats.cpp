// The container allow-list and a silent decoder (issue 11, item 6).
//
// A corrupt 104-byte SDS file used to be accepted, printed ~100k lines of libsndfile's printf
// chatter on stdout and decoded to garbage; a corrupt MP3 made libmpg123 print on stderr. Each case
// here is built byte by byte (the refused containers' magic numbers from their specifications), and
// every load runs with file descriptors 1 and 2 captured: nothing may be written there. Allowed
// containers are written with libsndfile itself from known 16-bit codes and must decode to exactly
// those codes / 32768.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <sndfile.h>

#include "afx_audio.h"
#include "audio_util.h"

namespace {

using namespace audio_test;

struct Outcome {
    afx_status status;
    std::string err, printed;
    std::vector<float> samples;
};

// Loads bytes from a file and from memory with stdout/stderr captured; both must agree.
Outcome load_quietly(const TempDir &dir, const char *name, const std::vector<uint8_t> &bytes, const afx_audio_options &o)
{
    const std::string path = dir.file(name);
    write_bytes(path, bytes);
    Outcome r;
    Clip from_file, from_mem;
    char err[AFX_ERROR_MAX] = "", err_mem[AFX_ERROR_MAX] = "";
    afx_status st_mem;
    {
        FdCapture cap;
        EXPECT_TRUE(cap.ok());
        r.status = afx_audio_load_file(path.c_str(), &o, &from_file.c, err, sizeof err);
        st_mem = afx_audio_load_memory(bytes.data(), bytes.size(), name, &o, &from_mem.c, err_mem, sizeof err_mem);
        r.printed = cap.text();
    }
    EXPECT_EQ(st_mem, r.status) << err_mem;
    EXPECT_TRUE(from_mem.samples() == from_file.samples());
    r.err = err;
    r.samples = from_file.samples();
    return r;
}

// A MIDI Sample Dump Standard file (MMA SDS: F0 7E cc 01 ss ss ee pp pp pp gg gg gg hh hh hh ii ii ii
// jj F7, then 127-byte data packets F0 7E cc 02 kk <120 bytes> ll F7): a valid 21-byte dump header,
// 16-bit samples, 22050 Hz (period 45351 ns), and 83 bytes that are not a data packet: 104 bytes.
std::vector<uint8_t> corrupt_sds()
{
    const unsigned period = 45351; // ns, 7-bit groups LSB first
    std::vector<uint8_t> b = {0xF0, 0x7E, 0x00, 0x01, 0x00, 0x00, 16,
                              static_cast<uint8_t>(period & 0x7F), static_cast<uint8_t>((period >> 7) & 0x7F),
                              static_cast<uint8_t>((period >> 14) & 0x7F),
                              0x7F, 0x7F, 0x03, 0, 0, 0, 0, 0, 0, 0, 0xF7};
    std::mt19937 rng(104u);
    while (b.size() < 104) b.push_back(static_cast<uint8_t>(rng() | 0x01)); // never a 0x00 "end" marker
    b[21] = 0x42; // not F0: libsndfile's reader printf()s "Error A"/"Error 1" per such block
    return b;
}

std::vector<uint8_t> with_tail(std::vector<uint8_t> head, size_t size)
{
    std::mt19937 rng(7u);
    while (head.size() < size) head.push_back(static_cast<uint8_t>(rng()));
    return head;
}

std::vector<uint8_t> bytes_of(const std::string &s) { return std::vector<uint8_t>(s.begin(), s.end()); }

TEST(AudioFormats, CorruptSdsIsRefusedSilently)
{
    TempDir dir;
    const std::vector<uint8_t> sds = corrupt_sds();
    ASSERT_EQ(sds.size(), 104u);
    const Outcome r = load_quietly(dir, "corrupt.sds", sds, opts(16000, 1));
    EXPECT_EQ(r.status, AFX_ERR_DECODE) << r.err;
    EXPECT_TRUE(contains(r.err.c_str(), "corrupt.sds") && contains(r.err.c_str(), "SDS")) << r.err;
    EXPECT_EQ(r.printed, "");
}

// Containers libsndfile (or the world) knows and afx refuses, each named in the message.
TEST(AudioFormats, RefusedContainersAreNamed)
{
    TempDir dir;
    std::vector<uint8_t> caf_alac;
    put_tag(caf_alac, "caff");
    caf_alac.insert(caf_alac.end(), {0, 1, 0, 0});
    put_tag(caf_alac, "desc");
    caf_alac.insert(caf_alac.end(), {0, 0, 0, 0, 0, 0, 0, 32, 0x40, 0xE5, 0x88, 0x80, 0, 0, 0, 0}); // 44100.0 BE
    put_tag(caf_alac, "alac");
    std::vector<uint8_t> mp3_in_wav = make_wav(0x55, 1, 16000, 0, std::vector<uint8_t>(400, 0xFF));
    struct Case { const char *file; std::vector<uint8_t> bytes; const char *named; };
    const Case cases[] = {
        {"x.sds", corrupt_sds(), "SDS"},
        {"x.paf", with_tail(bytes_of(" paf"), 2048), "PAF"},
        {"x.nist", with_tail(bytes_of("NIST_1A\n   1024\nsample_rate -i 16000\nend_head\n"), 2048), "NIST"},
        {"x.voc", with_tail(bytes_of("Creative Voice File\x1a"), 2048), "VOC"},
        {"x.avr", with_tail(bytes_of("2BIT"), 2048), "AVR"},
        {"x.xi", with_tail(bytes_of("Extended Instrument: "), 2048), "XI"},
        {"x.sf", with_tail({0x64, 0xA3, 0x01, 0x00}, 2048), "IRCAM"},
        {"x.wve", with_tail(bytes_of("ALawSoundFile**"), 2048), "WVE"},
        {"x.mat", with_tail(bytes_of("MATLAB 5.0 MAT-file"), 2048), "MATLAB"},
        {"x.8svx", with_tail({'F', 'O', 'R', 'M', 0, 0, 0x08, 0, '8', 'S', 'V', 'X', 'V', 'H', 'D', 'R'}, 2048), "8SVX"},
        {"x.caf", with_tail(caf_alac, 2048), "ALAC"},
        {"x.wav", mp3_in_wav, "MPEG audio inside WAV"},
        {"x.aac", with_tail({0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC}, 2048), "AAC"},
        {"x.m4a", with_tail({0, 0, 0, 0x20, 'f', 't', 'y', 'p', 'M', '4', 'A', ' '}, 2048), "MP4"},
        {"x.raw", with_tail({0x01, 0x02, 0x03, 0x04}, 2048), "first bytes 01 02 03 04"},
        {"tiny.wav", {'R', 'I', 'F'}, "not a supported audio container"},
    };
    for (const Case &k : cases) {
        SCOPED_TRACE(k.file);
        const Outcome r = load_quietly(dir, k.file, k.bytes, opts(16000, 1));
        EXPECT_EQ(r.status, AFX_ERR_DECODE) << r.err;
        EXPECT_TRUE(contains(r.err.c_str(), k.file)) << r.err;
        EXPECT_TRUE(contains(r.err.c_str(), k.named)) << r.err;
        EXPECT_EQ(r.printed, "");
    }
}

// Every allowed container, written by libsndfile from known 16-bit codes (two channels), decodes to
// exactly those codes / 32768; Vorbis and Opus (lossy) to a tone fit, as in test_audio.cpp.
TEST(AudioFormats, AllowedContainersRoundTrip)
{
    TempDir dir;
    const int rate = 16000, n = 4000;
    std::vector<int16_t> codes(2 * n);
    std::mt19937 rng(2024u);
    SCOPED_TRACE("seed=2024");
    for (auto &c : codes) c = static_cast<int16_t>(rng());
    struct Case { const char *file; int format; };
    const Case lossless[] = {
        {"a.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16},   {"b.wav", SF_FORMAT_WAVEX | SF_FORMAT_PCM_16},
        {"c.rf64", SF_FORMAT_RF64 | SF_FORMAT_PCM_16}, {"d.w64", SF_FORMAT_W64 | SF_FORMAT_PCM_16},
        {"e.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16}, {"f.au", SF_FORMAT_AU | SF_FORMAT_PCM_16},
        {"g.caf", SF_FORMAT_CAF | SF_FORMAT_PCM_16},   {"h.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16},
        {"i.aifc", SF_FORMAT_AIFF | SF_FORMAT_FLOAT},
    };
    for (const Case &k : lossless) {
        SCOPED_TRACE(k.file);
        const std::string path = dir.file(k.file);
        SF_INFO info{};
        info.samplerate = rate;
        info.channels = 2;
        info.format = k.format;
        SNDFILE *sf = sf_open(path.c_str(), SFM_WRITE, &info);
        ASSERT_NE(sf, nullptr) << sf_strerror(nullptr);
        if ((k.format & SF_FORMAT_SUBMASK) == SF_FORMAT_FLOAT) { // float data: the values themselves
            std::vector<float> f(codes.size());
            for (size_t i = 0; i < f.size(); ++i) f[i] = codes[i] / 32768.0f;
            ASSERT_EQ(sf_writef_float(sf, f.data(), n), n);
        } else {
            ASSERT_EQ(sf_writef_short(sf, codes.data(), n), n);
        }
        ASSERT_EQ(sf_close(sf), 0);
        const Outcome r = load_quietly(dir, k.file, read_bytes(path), opts(0, 0));
        ASSERT_EQ(r.status, AFX_OK) << r.err;
        EXPECT_EQ(r.printed, "");
        ASSERT_EQ(r.samples.size(), codes.size());
        for (size_t i = 0; i < codes.size(); ++i) ASSERT_EQ(r.samples[i], codes[i] / 32768.0f) << "sample " << i;
    }
    const Case lossy[] = {{"j.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS}, {"k.opus", SF_FORMAT_OGG | SF_FORMAT_OPUS}};
    for (const Case &k : lossy) {
        SCOPED_TRACE(k.file);
        const std::string path = dir.file(k.file);
        const int r48 = 48000, m = 48000;
        std::vector<float> tone(m);
        for (int i = 0; i < m; ++i) tone[i] = static_cast<float>(0.5 * std::sin(2 * 3.14159265358979 * 440.0 * i / r48));
        SF_INFO info{};
        info.samplerate = r48;
        info.channels = 1;
        info.format = k.format;
        SNDFILE *sf = sf_open(path.c_str(), SFM_WRITE, &info);
        if (!sf) {
            ADD_FAILURE() << "this libsndfile cannot write " << k.file << ": " << sf_strerror(nullptr);
            continue;
        }
        ASSERT_EQ(sf_writef_float(sf, tone.data(), m), m);
        ASSERT_EQ(sf_close(sf), 0);
        const Outcome r = load_quietly(dir, k.file, read_bytes(path), opts(0, 0));
        ASSERT_EQ(r.status, AFX_OK) << r.err;
        EXPECT_EQ(r.printed, "");
        ASSERT_GE(r.samples.size(), static_cast<size_t>(m));
        double err2 = 0, sig2 = 0; // residual against the tone over the middle half (codec delay is compensated)
        for (int i = m / 4; i < 3 * m / 4; ++i) err2 += std::pow(r.samples[i] - tone[i], 2), sig2 += std::pow(tone[i], 2);
        EXPECT_GT(10 * std::log10(sig2 / std::max(err2, 1e-30)), 20.0);
    }
}

// 16-bit PCM is read as codes and widened by afx (libsndfile's float read goes 8 KB at a time). The
// result must be libsndfile's own sf_readf_float, bit for bit: three channels, the extreme codes, more
// frames than one decode block, little-endian (WAV), big-endian (AIFF) and FLAC; interleaved at the
// file's rate, downmixed, and from an offset that is not a block boundary.
TEST(AudioFormats, Pcm16FloatEqualsLibsndfile)
{
    TempDir dir;
    const int rate = 16000, ch = 3, n = 70001;
    std::vector<int16_t> codes(static_cast<size_t>(n) * ch);
    std::mt19937 rng(1616u);
    SCOPED_TRACE("seed=1616");
    for (auto &c : codes) c = static_cast<int16_t>(rng());
    codes[0] = -32768, codes[1] = 32767, codes[2] = 0, codes[3] = -1, codes[4] = 1;
    for (const auto &k : {std::make_pair("p.wav", SF_FORMAT_WAV), std::make_pair("p.aiff", SF_FORMAT_AIFF),
                          std::make_pair("p.flac", SF_FORMAT_FLAC)}) {
        SCOPED_TRACE(k.first);
        const std::string path = dir.file(k.first);
        SF_INFO info{};
        info.samplerate = rate;
        info.channels = ch;
        info.format = k.second | SF_FORMAT_PCM_16;
        SNDFILE *sf = sf_open(path.c_str(), SFM_WRITE, &info);
        ASSERT_NE(sf, nullptr) << sf_strerror(nullptr);
        ASSERT_EQ(sf_writef_short(sf, codes.data(), n), n);
        ASSERT_EQ(sf_close(sf), 0);

        SF_INFO rinfo{};
        sf = sf_open(path.c_str(), SFM_READ, &rinfo);
        ASSERT_NE(sf, nullptr) << sf_strerror(nullptr);
        std::vector<float> ref(codes.size());
        ASSERT_EQ(sf_readf_float(sf, ref.data(), n), n);
        sf_close(sf);

        const Outcome all = load_quietly(dir, k.first, read_bytes(path), opts(0, 0));
        ASSERT_EQ(all.status, AFX_OK) << all.err;
        EXPECT_TRUE(all.samples == ref);

        const Outcome mono = load_quietly(dir, k.first, read_bytes(path), opts(0, 1));
        ASSERT_EQ(mono.status, AFX_OK) << mono.err;
        EXPECT_TRUE(mono.samples == mono_mean(ref, ch));

        afx_audio_options o = opts(0, 0);
        const int64_t first = 13000; // frames: 0.8125 s, exact in binary
        o.offset_seconds = static_cast<double>(first) / rate;
        const Outcome tail = load_quietly(dir, k.first, read_bytes(path), o);
        ASSERT_EQ(tail.status, AFX_OK) << tail.err;
        EXPECT_TRUE(tail.samples == std::vector<float>(ref.begin() + first * ch, ref.end()));
    }
}

// The MPEG reader (libmpg123 with MPG123_QUIET) gives libsndfile's samples: the example MP3 (ID3v2
// tag, LAME Info frame) decoded by libsndfile here, and a stream without the tag.
TEST(AudioFormats, MpegEqualsLibsndfile)
{
    TempDir dir;
    const std::string mp3 = example("conv_loop_amen_44k.mp3");
    std::vector<uint8_t> bytes = read_bytes(mp3);
    ASSERT_TRUE(bytes.size() > 10 && std::memcmp(bytes.data(), "ID3", 3) == 0);
    // Without the ID3v2 tag: its size is syncsafe in bytes 6..9 (ID3v2.4 section 3.1).
    const size_t tag = 10 + (static_cast<size_t>(bytes[6]) << 21 | bytes[7] << 14 | bytes[8] << 7 | bytes[9]);
    const std::string bare = dir.file("bare.mp3");
    write_bytes(bare, std::vector<uint8_t>(bytes.begin() + static_cast<long>(tag), bytes.end()));
    for (const std::string &path : {mp3, bare}) {
        SCOPED_TRACE(path);
        SF_INFO info{};
        SNDFILE *sf = sf_open(path.c_str(), SFM_READ, &info);
        ASSERT_NE(sf, nullptr) << sf_strerror(nullptr);
        std::vector<float> ref(static_cast<size_t>(info.frames * info.channels));
        ASSERT_EQ(sf_readf_float(sf, ref.data(), info.frames), info.frames);
        sf_close(sf);
        Clip clip;
        char err[AFX_ERROR_MAX] = "";
        const afx_audio_options o = opts(0, 0);
        ASSERT_EQ(afx_audio_load_file(path.c_str(), &o, &clip.c, err, sizeof err), AFX_OK) << err;
        EXPECT_EQ(clip.c.sample_rate, info.samplerate);
        EXPECT_EQ(clip.c.n_channels, info.channels);
        EXPECT_TRUE(clip.samples() == ref);
    }
}

// A corrupt MP3 (random bytes over its frames): libmpg123 would print "dequantization failed" and
// the like; through afx nothing reaches stdout/stderr, and whatever is returned is finite.
TEST(AudioFormats, CorruptMpegIsSilent)
{
    TempDir dir;
    std::vector<uint8_t> bytes = read_bytes(example("conv_loop_amen_44k.mp3"));
    const unsigned seed = 11u;
    SCOPED_TRACE("seed=11");
    std::mt19937 rng(seed);
    for (int k = 0; k < 300; ++k) bytes[2000 + rng() % (bytes.size() - 2000)] = static_cast<uint8_t>(rng());
    for (int target : {0, 16000}) {
        const Outcome r = load_quietly(dir, "corrupt.mp3", bytes, opts(target, 1));
        EXPECT_TRUE(r.status == AFX_OK || r.status == AFX_ERR_DECODE) << r.err;
        EXPECT_EQ(r.printed, "");
        for (float v : r.samples) ASSERT_TRUE(std::isfinite(v));
    }
}

} // namespace
