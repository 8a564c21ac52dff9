// cli_util.h: helpers of the CLI test suites (test_cli.cpp, test_cli_job.cpp): temporary folders, running
// the afx binary, an independent .npy reader written from NumPy's format specification, and the in-process
// library reference (afx_audio_load_file + afx_plan_execute) a CLI output must equal bit for bit.
#ifndef AFX_TESTS_CLI_UTIL_H
#define AFX_TESTS_CLI_UTIL_H

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "afx.h"
#include "afx_audio.h"

#ifdef AFX_CLI_PATH
namespace afx_test {

namespace fs = std::filesystem;

// ------------------------------------------------------------------------------------------------
// Process and file helpers
// ------------------------------------------------------------------------------------------------

// A fresh mkdtemp folder, removed with everything in it at the end of the test.
class TempDir {
  public:
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "afx_cli_XXXXXX").string();
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        if (mkdtemp(buf.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
        path_ = buf.data();
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path &path() const { return path_; }

  private:
    fs::path path_;
};

struct RunResult {
    int code = -1;
    std::string out, err;
};

inline std::string shell_quote(const std::string &s) {
    std::string q = "'";
    for (char c : s) {
        if (c == '\'')
            q += "'\\''";
        else
            q += c;
    }
    return q + "'";
}

inline std::string read_text(const fs::path &p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

inline std::vector<unsigned char> read_bytes(const fs::path &p) {
    std::ifstream f(p, std::ios::binary);
    return std::vector<unsigned char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Runs the afx binary with `args`; stdout/stderr are captured through files in `logdir`.
inline RunResult run_afx(const std::vector<std::string> &args, const fs::path &logdir) {
    const fs::path out = logdir / "stdout.txt", err = logdir / "stderr.txt";
    std::string cmd = shell_quote(AFX_CLI_PATH);
    for (const auto &a : args) cmd += " " + shell_quote(a);
    cmd += " >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string());
    int st = std::system(cmd.c_str());
    RunResult r;
    r.code = (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
    r.out = read_text(out);
    r.err = read_text(err);
    return r;
}

// Example clips, sorted by name.
inline std::vector<fs::path> example_clips() {
    std::vector<fs::path> v;
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(AFX_EXAMPLES_DIR, ec)) {
        const std::string ext = e.path().extension().string();
        if (ext == ".wav" || ext == ".flac" || ext == ".oga" || ext == ".ogg" || ext == ".mp3") v.push_back(e.path());
    }
    std::sort(v.begin(), v.end());
    return v;
}

// Up to `n` example clips, taking one of each extension first so that every decoder is used.
inline std::vector<fs::path> pick_clips(size_t n) {
    std::vector<fs::path> all = example_clips(), picked;
    std::set<std::string> seen;
    for (const auto &p : all)
        if (picked.size() < n && seen.insert(p.extension().string()).second) picked.push_back(p);
    for (const auto &p : all)
        if (picked.size() < n && std::find(picked.begin(), picked.end(), p) == picked.end()) picked.push_back(p);
    return picked;
}

inline std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string> &b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

inline std::vector<std::string> strings(const std::vector<fs::path> &v) {
    std::vector<std::string> s;
    for (const auto &p : v) s.push_back(p.string());
    return s;
}

inline fs::path npy_path(const fs::path &outdir, const fs::path &input) { return outdir / (input.stem().string() + ".npy"); }

// Temporary files left in `dir` (recursively): the old "<name>.tmp" scheme or afx's ".afx.XXXXXX" files.
inline bool has_tmp_files(const fs::path &dir) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.find(".tmp") != std::string::npos || (name.rfind(".afx.", 0) == 0 && !it->is_directory())) return true;
    }
    return false;
}

// Writes a mono 16-bit PCM WAV file.
inline void write_wav16(const fs::path &p, const std::vector<int16_t> &s, int rate) {
    std::ofstream f(p, std::ios::binary);
    auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; i++) f.put((char)((v >> (8 * i)) & 0xFF)); };
    auto u16 = [&](uint16_t v) { for (int i = 0; i < 2; i++) f.put((char)((v >> (8 * i)) & 0xFF)); };
    const uint32_t bytes = (uint32_t)(s.size() * 2);
    f.write("RIFF", 4); u32(36 + bytes); f.write("WAVE", 4);
    f.write("fmt ", 4); u32(16); u16(1); u16(1); u32((uint32_t)rate); u32((uint32_t)rate * 2); u16(2); u16(16);
    f.write("data", 4); u32(bytes);
    for (int16_t v : s) u16((uint16_t)v);
}

// ------------------------------------------------------------------------------------------------
// Independent .npy reader (NumPy format spec, version 1.0)
// ------------------------------------------------------------------------------------------------
struct Npy {
    std::vector<int64_t> shape;
    std::vector<float> data;
};

// Minimal parser of the Python literal header dict: {'key': value, ...} with string, bool and
// int-tuple values.
class DictParser {
  public:
    explicit DictParser(const std::string &s) : s_(s) {}

    bool parse(std::map<std::string, std::string> *kv, std::vector<int64_t> *shape, std::string *why) {
        ws();
        if (!eat('{')) return fail(why, "header does not start with '{'");
        for (;;) {
            ws();
            if (eat('}')) break;
            std::string key;
            if (!str(&key)) return fail(why, "bad key");
            ws();
            if (!eat(':')) return fail(why, "missing ':'");
            ws();
            if (key == "shape") {
                if (!tuple(shape)) return fail(why, "bad shape tuple");
                (*kv)[key] = "<tuple>";
            } else if (peek() == '\'') {
                std::string v;
                if (!str(&v)) return fail(why, "bad string value");
                (*kv)[key] = v;
            } else if (s_.compare(i_, 4, "True") == 0) {
                i_ += 4;
                (*kv)[key] = "True";
            } else if (s_.compare(i_, 5, "False") == 0) {
                i_ += 5;
                (*kv)[key] = "False";
            } else {
                return fail(why, "unsupported value for " + key);
            }
            ws();
            if (eat(',')) continue;
            ws();
            if (eat('}')) break;
            return fail(why, "expected ',' or '}'");
        }
        // Only spaces, then exactly one final '\n'.
        while (i_ < s_.size() && s_[i_] == ' ') i_++;
        if (i_ + 1 != s_.size() || s_[i_] != '\n') return fail(why, "header padding is not spaces + '\\n'");
        return true;
    }

  private:
    char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
    bool eat(char c) {
        if (peek() != c) return false;
        i_++;
        return true;
    }
    void ws() {
        while (peek() == ' ') i_++;
    }
    bool str(std::string *out) {
        if (!eat('\'')) return false;
        size_t end = s_.find('\'', i_);
        if (end == std::string::npos) return false;
        *out = s_.substr(i_, end - i_);
        i_ = end + 1;
        return true;
    }
    bool tuple(std::vector<int64_t> *out) {
        out->clear();
        if (!eat('(')) return false;
        for (;;) {
            ws();
            if (eat(')')) return true;  // "()" or after a trailing comma
            size_t start = i_;
            while (peek() >= '0' && peek() <= '9') i_++;
            if (i_ == start) return false;
            out->push_back(std::stoll(s_.substr(start, i_ - start)));
            ws();
            if (eat(',')) continue;
            ws();
            // A 1-tuple must be written "(n,)".
            if (out->size() == 1) return false;
            return eat(')');
        }
    }
    static bool fail(std::string *why, const std::string &m) {
        *why = m;
        return false;
    }
    const std::string &s_;
    size_t i_ = 0;
};

inline bool read_npy(const fs::path &path, Npy *npy, std::string *why) {
    const std::vector<unsigned char> b = read_bytes(path);
    if (b.size() < 10) return *why = "file too short", false;
    if (std::memcmp(b.data(), "\x93NUMPY", 6) != 0) return *why = "bad magic", false;
    if (b[6] != 1 || b[7] != 0) return *why = "not version 1.0", false;
    const size_t hlen = (size_t)b[8] | ((size_t)b[9] << 8);
    if ((10 + hlen) % 64 != 0) return *why = "header not 64-byte aligned: " + std::to_string(10 + hlen), false;
    if (b.size() < 10 + hlen) return *why = "truncated header", false;
    const std::string header(b.begin() + 10, b.begin() + 10 + (long)hlen);
    std::map<std::string, std::string> kv;
    if (!DictParser(header).parse(&kv, &npy->shape, why)) return *why = "header '" + header + "': " + *why, false;
    if (kv.size() != 3 || !kv.count("descr") || !kv.count("fortran_order") || !kv.count("shape"))
        return *why = "header keys: " + header, false;
    if (kv["descr"] != "<f4") return *why = "descr " + kv["descr"], false;
    if (kv["fortran_order"] != "False") return *why = "fortran_order " + kv["fortran_order"], false;
    size_t count = 1;
    for (int64_t d : npy->shape) count *= (size_t)d;
    if (b.size() != 10 + hlen + 4 * count)
        return *why = "data size " + std::to_string(b.size() - 10 - hlen) + " != 4 * " + std::to_string(count), false;
    npy->data.resize(count);
    for (size_t i = 0; i < count; i++) {
        const unsigned char *q = &b[10 + hlen + 4 * i];
        uint32_t u = (uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16) | ((uint32_t)q[3] << 24);
        std::memcpy(&npy->data[i], &u, 4);
    }
    return true;
}

// ------------------------------------------------------------------------------------------------
// In-process reference: what the library computes for one clip
// ------------------------------------------------------------------------------------------------
struct Reference {
    std::vector<int64_t> shape;  // as the CLI must write it
    std::vector<float> data;
    int64_t frames = 0, frames_for_length = 0, n_samples = 0;
};

// Decodes `path` (downmix, resample to p.sample_rate; optionally a span of it) and runs it alone through a fresh plan as
// global clip `index`.
inline Reference reference(afx_params p, const fs::path &path, uint64_t index, double offset_seconds = 0.0,
                           double duration_seconds = 0.0) {
    Reference r;
    afx_audio_options o;
    afx_audio_options_init(&o);
    o.offset_seconds = offset_seconds;
    o.duration_seconds = duration_seconds;
    o.target_rate = p.sample_rate;
    o.downmix = 1;
    afx_audio_clip clip{};
    char err[AFX_ERROR_MAX] = "";
    EXPECT_EQ(afx_audio_load_file(path.c_str(), &o, &clip, err, sizeof err), AFX_OK) << err;
    r.n_samples = clip.n_samples;
    p.max_batch = 1;
    p.max_samples = std::max<int64_t>(clip.n_samples, 1);
    afx_plan *plan = nullptr;
    EXPECT_EQ(afx_plan_create(&p, &plan, err, sizeof err), AFX_OK) << err;
    if (plan == nullptr) {
        afx_audio_clip_free(&clip);
        return r;
    }
    const void *clips[1] = {clip.samples};
    int64_t lengths[1] = {clip.n_samples};
    afx_input in{};
    in.format = AFX_SAMPLE_F32;
    in.n_channels = 1;
    in.clips = clips;
    in.lengths = lengths;
    in.n_clips = 1;
    in.first_clip_index = index;
    int64_t max_frames = 0;
    EXPECT_EQ(afx_plan_output_shape(plan, &in, nullptr, &max_frames), AFX_OK);
    std::vector<float> out(std::max<size_t>(afx_plan_output_size(plan, 1, max_frames), 1));
    int64_t n_frames = 0;
    afx_output ao{out.data(), max_frames, &n_frames};
    EXPECT_EQ(afx_plan_execute(plan, &in, &ao), AFX_OK) << afx_plan_error(plan);
    r.frames = n_frames;
    r.frames_for_length = afx_plan_frames_for_length(plan, clip.n_samples);
    const int64_t nf = afx_plan_n_features(plan);
    if (p.pooling != AFX_POOL_NONE) {
        const int64_t len = p.pooling == AFX_POOL_MEAN ? nf : 2 * nf;
        r.shape = {len};
        r.data.assign(out.begin(), out.begin() + len);
    } else if (p.layout == AFX_LAYOUT_TF) {
        r.shape = {n_frames, nf};
        r.data.assign(out.begin(), out.begin() + n_frames * nf);
    } else {
        r.shape = {nf, n_frames};
        for (int64_t f = 0; f < nf; f++)
            r.data.insert(r.data.end(), out.begin() + f * max_frames, out.begin() + f * max_frames + n_frames);
    }
    afx_plan_free(plan);
    afx_audio_clip_free(&clip);
    return r;
}

inline bool bit_equal(const std::vector<float> &a, const std::vector<float> &b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Runs `afx extract ARGS INPUTS -o OUT` and checks every output against the in-process reference
// with params `p` (clip i is global clip i).
inline void expect_matches_library(const afx_params &p, const std::vector<std::string> &args,
                            const std::vector<fs::path> &inputs) {
    TempDir t;
    const fs::path out = t.path() / "nested" / "out";  // mkdir -p
    RunResult r = run_afx(concat(concat({"extract", "-q"}, args), concat(strings(inputs), {"-o", out.string()})),
                          t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "") << "-q must keep stderr empty on success";
    for (size_t i = 0; i < inputs.size(); i++) {
        SCOPED_TRACE(inputs[i].string());
        Npy npy;
        std::string why;
        ASSERT_TRUE(read_npy(npy_path(out, inputs[i]), &npy, &why)) << why;
        Reference ref = reference(p, inputs[i], i);
        ASSERT_GT(ref.n_samples, 0);
        EXPECT_EQ(npy.shape, ref.shape);
        if (p.pooling == AFX_POOL_NONE) {
            EXPECT_EQ(ref.frames, ref.frames_for_length);
            const int64_t time_dim = p.layout == AFX_LAYOUT_TF ? npy.shape.at(0) : npy.shape.at(1);
            EXPECT_EQ(time_dim, ref.frames_for_length) << "must be the clip's own frame count";
        }
        EXPECT_TRUE(bit_equal(npy.data, ref.data)) << "CLI output differs from the library's";
    }
    EXPECT_FALSE(has_tmp_files(out));
}

inline afx_params defaults() {
    afx_params p;
    afx_params_init(&p);
    return p;
}

inline bool python_numpy_available(std::string *python) {
    const char *env = std::getenv("AFX_TEST_PYTHON");
    *python = env && *env ? env : "python3";
    return std::system((shell_quote(*python) + " -c 'import numpy' >/dev/null 2>&1").c_str()) == 0;
}

}  // namespace afx_test
#endif  // AFX_CLI_PATH
#endif  // AFX_TESTS_CLI_UTIL_H
