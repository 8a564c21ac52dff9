// audio_util.h: helpers shared by the audio tests (tests/test_audio*.cpp): temporary folders, RAII
// clips, byte-level file writers, an independent RIFF/WAVE reader, a python-soxr reference resampler
// and a capture of everything written to file descriptors 1 and 2.
//
// Nothing here calls the code under test except afx_audio_clip_free (RAII) and the small option
// builder; every reference (WAV bytes, PCM codes, the resampler's call sequence) is written here.
#ifndef AFX_TESTS_AUDIO_UTIL_H
#define AFX_TESTS_AUDIO_UTIL_H

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <soxr.h>

#include "afx_audio.h"

namespace audio_test {

namespace fs = std::filesystem;

inline std::string example(const char *name) { return std::string(AFX_EXAMPLES_DIR) + "/" + name; }

inline std::vector<uint8_t> read_bytes(const std::string &path)
{
    std::ifstream f(path, std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string &path, const std::vector<uint8_t> &bytes)
{
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char *>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A temporary folder (mkdtemp), removed with its contents at the end of the test.
struct TempDir {
    std::string path;
    TempDir()
    {
        char tmpl[] = "/tmp/afx_audio_test_XXXXXX";
        const char *p = mkdtemp(tmpl);
        if (p) path = p;
    }
    ~TempDir()
    {
        std::error_code ec;
        if (!path.empty()) fs::remove_all(path, ec);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    std::string file(const char *name) const { return path + "/" + name; }
};

// RAII clip so that a failing ASSERT does not leak.
struct Clip {
    afx_audio_clip c;
    Clip() { std::memset(&c, 0, sizeof c); }
    ~Clip() { afx_audio_clip_free(&c); }
    Clip(const Clip &) = delete;
    Clip &operator=(const Clip &) = delete;
    std::vector<float> samples() const
    {
        return c.samples ? std::vector<float>(c.samples, c.samples + c.n_samples * c.n_channels) : std::vector<float>();
    }
    std::vector<int16_t> samples_s16() const
    {
        return c.samples_s16 ? std::vector<int16_t>(c.samples_s16, c.samples_s16 + c.n_samples * c.n_channels)
                             : std::vector<int16_t>();
    }
};

inline afx_audio_options opts(int target_rate, int downmix, int64_t max_samples = 0)
{
    afx_audio_options o;
    afx_audio_options_init(&o);
    o.target_rate = target_rate;
    o.downmix = downmix;
    o.max_samples = max_samples;
    return o;
}

inline bool contains(const char *haystack, const std::string &needle)
{
    return std::string(haystack).find(needle) != std::string::npos;
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- little-endian byte writers and a WAV builder ----------------------------------------------

inline void put16(std::vector<uint8_t> &b, unsigned v) { b.push_back(v & 0xFF), b.push_back((v >> 8) & 0xFF); }
inline void put32(std::vector<uint8_t> &b, uint32_t v) { put16(b, v & 0xFFFF), put16(b, v >> 16); }
inline void put_tag(std::vector<uint8_t> &b, const char *tag)
{
    for (const char *p = tag; *p; ++p) b.push_back(static_cast<uint8_t>(*p));
}

// A canonical 44-byte-header WAV. `declared` overrides the data chunk size (truncated files).
inline std::vector<uint8_t> make_wav(int format, int channels, int rate, int bits, const std::vector<uint8_t> &data,
                                     int64_t declared = -1)
{
    const uint32_t data_size = declared >= 0 ? static_cast<uint32_t>(declared) : static_cast<uint32_t>(data.size());
    std::vector<uint8_t> b;
    put_tag(b, "RIFF");
    put32(b, 36 + data_size);
    put_tag(b, "WAVEfmt ");
    put32(b, 16);
    put16(b, static_cast<unsigned>(format));
    put16(b, static_cast<unsigned>(channels));
    put32(b, static_cast<uint32_t>(rate));
    put32(b, static_cast<uint32_t>(rate * channels * bits / 8));
    put16(b, static_cast<unsigned>(channels * bits / 8));
    put16(b, static_cast<unsigned>(bits));
    put_tag(b, "data");
    put32(b, data_size);
    b.insert(b.end(), data.begin(), data.end());
    return b;
}

inline std::vector<uint8_t> float_bytes(const std::vector<float> &x)
{
    std::vector<uint8_t> b(x.size() * 4);
    std::memcpy(b.data(), x.data(), b.size()); // x86/ARM hosts are little-endian like WAV
    return b;
}

inline std::vector<uint8_t> s16_bytes(const std::vector<int16_t> &x)
{
    std::vector<uint8_t> b;
    for (int16_t v : x) put16(b, static_cast<unsigned>(static_cast<uint16_t>(v)));
    return b;
}

// A 16-bit PCM WAV of `codes` (interleaved, `channels` channels).
inline std::vector<uint8_t> pcm16_wav(int channels, int rate, const std::vector<int16_t> &codes)
{
    return make_wav(1, channels, rate, 16, s16_bytes(codes));
}

// ---- independent RIFF/WAVE reader (fmt + data chunks) ------------------------------------------

inline uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24; }
inline uint16_t le16(const uint8_t *p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

struct Wav {
    int format = 0; // WAVE_FORMAT tag: 1 PCM, 3 float, 7 mu-law
    int channels = 0, rate = 0, bits = 0;
    std::vector<uint8_t> data;
};

inline bool parse_wav(const std::vector<uint8_t> &b, Wav *w)
{
    if (b.size() < 12 || std::memcmp(b.data(), "RIFF", 4) != 0 || std::memcmp(b.data() + 8, "WAVE", 4) != 0)
        return false;
    bool have_fmt = false, have_data = false;
    size_t pos = 12;
    while (pos + 8 <= b.size()) {
        const uint8_t *id = b.data() + pos;
        const size_t size = le32(id + 4), body = pos + 8;
        if (body + size > b.size()) return false;
        if (std::memcmp(id, "fmt ", 4) == 0 && size >= 16) {
            w->format = le16(b.data() + body);
            w->channels = le16(b.data() + body + 2);
            w->rate = static_cast<int>(le32(b.data() + body + 4));
            w->bits = le16(b.data() + body + 14);
            have_fmt = true;
        } else if (std::memcmp(id, "data", 4) == 0) {
            w->data.assign(b.begin() + static_cast<long>(body), b.begin() + static_cast<long>(body + size));
            have_data = true;
        }
        pos = body + size + (size & 1); // chunks are padded to even sizes
    }
    return have_fmt && have_data;
}

// The 16-bit PCM codes of a parsed WAV (interleaved).
inline std::vector<int16_t> wav_codes16(const Wav &w)
{
    std::vector<int16_t> out;
    for (size_t i = 0; i + 1 < w.data.size(); i += 2) out.push_back(static_cast<int16_t>(le16(w.data.data() + i)));
    return out;
}

// ---- references for the pipeline -----------------------------------------------------------------

// librosa.to_mono: float32 mean of the channels, accumulated from 0 then divided (for < 8 channels
// numpy's pairwise sum is this loop).
inline std::vector<float> mono_mean(const std::vector<float> &x, int ch)
{
    std::vector<float> y(x.size() / static_cast<size_t>(ch));
    for (size_t i = 0; i < y.size(); ++i) {
        float acc = 0.0f;
        for (int c = 0; c < ch; ++c) acc += x[i * static_cast<size_t>(ch) + static_cast<size_t>(c)];
        y[i] = acc / static_cast<float>(ch);
    }
    return y;
}

// librosa.resample(res_type="soxr_hq") as python-soxr 1.1.0 runs it (src/soxr_ext.cpp,
// csoxr_divide_proc): one soxr_create, div_len-frame soxr_process calls over the whole input with
// the whole remaining output capacity, one flush, then librosa's fix_length to ceil(n * out / in).
// Written here from that source, independently of host/audio/resample.c.
inline std::vector<float> python_soxr_resample(const std::vector<float> &x, int ch, int in, int out)
{
    const size_t n = x.size() / static_cast<size_t>(ch);
    const size_t target = static_cast<size_t>((static_cast<int64_t>(n) * out + in - 1) / in);
    if (in == out) return x;
    const size_t olen = static_cast<size_t>(static_cast<double>(n) * out / in + 1);
    // Two spare frames: libsoxr reads one pointer per channel at the output address (see
    // AFX_RESAMPLE_SPARE_FRAMES), so a full buffer must not end there.
    std::vector<float> y((std::max(olen, target) + 2) * static_cast<size_t>(ch), 0.0f);
    soxr_error_t e = nullptr;
    const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    const soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_t s = soxr_create(in, out, static_cast<unsigned>(ch), &e, &io, &q, nullptr);
    const size_t div_len = static_cast<size_t>(std::max(1000.0, 48000.0 * in / out));
    size_t pos = 0, done = 0;
    for (size_t i = 0; i < n; i += div_len) {
        const size_t len = std::min(div_len, n - i);
        soxr_process(s, x.data() + i * static_cast<size_t>(ch), len, nullptr, y.data() + pos * static_cast<size_t>(ch),
                     olen - pos, &done);
        pos += done;
    }
    soxr_process(s, nullptr, 0, nullptr, y.data() + pos * static_cast<size_t>(ch), olen - pos, &done);
    soxr_delete(s);
    y.resize(target * static_cast<size_t>(ch)); // fix_length: trim, or keep the zeros past libsoxr's output
    return y;
}

// ---- capture of file descriptors 1 and 2 ---------------------------------------------------------

// Redirects stdout and stderr (the descriptors, so C stdio, C++ streams and raw write(2) alike) to a
// temporary file for its lifetime; text() gives what was written. Used to prove the decoders print
// nothing.
class FdCapture {
  public:
    FdCapture()
    {
        std::fflush(stdout);
        std::fflush(stderr);
        char tmpl[] = "/tmp/afx_fd_capture_XXXXXX";
        fd_ = mkstemp(tmpl);
        if (fd_ >= 0) unlink(tmpl);
        saved_out_ = dup(1);
        saved_err_ = dup(2);
        if (fd_ >= 0) dup2(fd_, 1), dup2(fd_, 2);
    }
    ~FdCapture() { restore(); if (fd_ >= 0) close(fd_); }
    FdCapture(const FdCapture &) = delete;
    FdCapture &operator=(const FdCapture &) = delete;
    bool ok() const { return fd_ >= 0 && saved_out_ >= 0 && saved_err_ >= 0; }
    std::string text()
    {
        restore();
        std::string s;
        if (fd_ < 0) return s;
        char buf[4096];
        lseek(fd_, 0, SEEK_SET);
        for (ssize_t n; (n = read(fd_, buf, sizeof buf)) > 0;) s.append(buf, static_cast<size_t>(n));
        return s;
    }

  private:
    void restore()
    {
        std::fflush(stdout);
        std::fflush(stderr);
        if (saved_out_ >= 0) dup2(saved_out_, 1), close(saved_out_), saved_out_ = -1;
        if (saved_err_ >= 0) dup2(saved_err_, 2), close(saved_err_), saved_err_ = -1;
    }
    int fd_ = -1, saved_out_ = -1, saved_err_ = -1;
};

// Fills a clip with garbage so that the "zeroed on failure" promise is observable.
inline void poison(afx_audio_clip *c) { std::memset(c, 0x5A, sizeof *c); }

inline bool is_zeroed(const afx_audio_clip &c)
{
    return c.samples == nullptr && c.samples_s16 == nullptr && c.n_samples == 0 && c.n_channels == 0 &&
           c.sample_rate == 0 && c.source_rate == 0 && c.source_channels == 0 && c.sample_format == 0;
}

} // namespace audio_test

#endif // AFX_TESTS_AUDIO_UTIL_H
