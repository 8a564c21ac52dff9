// The corpus job of `afx extract` (host/job): inputs and manifests, output trees, restart after kill -9,
// concurrent runs, shards, parallelism, errors. Oracles: the library called in-process on each clip
// (cli_util.h's reference, bit for bit), an uninterrupted single-process run (byte for byte: outputs are
// deterministic), jansson for the JSON files. The formats' own readers (numpy, webdataset, kaldiio) are
// exercised by tests/job/readback.py.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include <chrono>
#include <functional>
#include <thread>

#include "cli_util.h"

#ifdef AFX_CLI_PATH
#include "job.h"

namespace {

using namespace afx_test;
namespace fs = std::filesystem;

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

// Runs afx with `args` and standard input from `input`.
RunResult run_afx_stdin(const std::vector<std::string> &args, const fs::path &input, const fs::path &logdir) {
    const fs::path out = logdir / "stdout.txt", err = logdir / "stderr.txt";
    std::string cmd = shell_quote(AFX_CLI_PATH);
    for (const auto &a : args) cmd += " " + shell_quote(a);
    cmd += " <" + shell_quote(input.string()) + " >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string());
    int st = std::system(cmd.c_str());
    RunResult r;
    r.code = (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
    r.out = read_text(out);
    r.err = read_text(err);
    return r;
}

// Starts afx in the background (stdout/stderr to files in logdir, with extra environment variables).
pid_t spawn_afx(const std::vector<std::string> &args, const fs::path &log,
                const std::vector<std::string> &env = {}) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        for (const auto &e : env) putenv(strdup(e.c_str()));
        std::vector<char *> argv;
        argv.push_back(const_cast<char *>(AFX_CLI_PATH));
        for (const auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
        argv.push_back(nullptr);
        execv(AFX_CLI_PATH, argv.data());
        _exit(127);
    }
    return pid;
}

int wait_code(pid_t pid) {
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

// Regular files below `dir` (relative path -> bytes), without the hidden ones (temporaries, .afx-state).
std::map<std::string, std::vector<unsigned char>> visible_files(const fs::path &dir) {
    std::map<std::string, std::vector<unsigned char>> m;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name[0] == '.') {
            if (it->is_directory()) it.disable_recursion_pending();
            continue;
        }
        if (it->is_regular_file()) m[fs::relative(it->path(), dir).string()] = read_bytes(it->path());
    }
    return m;
}

// JSON lines of a file, parsed with jansson (owned by the caller's vector of handles).
struct JsonLines {
    std::vector<json_t *> v;
    ~JsonLines() {
        for (auto *o : v) json_decref(o);
    }
};

bool read_jsonl(const fs::path &p, JsonLines *out, std::string *why) {
    std::istringstream in(read_text(p));
    for (std::string line; std::getline(in, line);) {
        json_error_t e;
        json_t *o = json_loads(line.c_str(), 0, &e);
        if (!json_is_object(o)) {
            *why = p.string() + ": bad line '" + line + "': " + e.text;
            json_decref(o);
            return false;
        }
        out->v.push_back(o);
    }
    return true;
}

std::string jstr(json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

// A nested corpus with duplicate basenames, non-audio files and a hidden file:
//   yes/x.wav  no/x.wav  no/deep/y.flac  z.oga  notes.txt  .hidden.wav
// Returns the clips in the job's order (byte order of the relative paths) with their keys.
std::vector<std::pair<std::string, fs::path>> make_corpus(const fs::path &root) {
    auto clips = pick_clips(4);
    EXPECT_GE(clips.size(), 4u);
    fs::create_directories(root / "yes");
    fs::create_directories(root / "no" / "deep");
    const std::vector<std::pair<std::string, fs::path>> layout = {
        {"no/deep/y", root / "no" / "deep" / ("y" + clips[2].extension().string())},
        {"no/x", root / "no" / ("x" + clips[1].extension().string())},
        {"yes/x", root / "yes" / ("x" + clips[0].extension().string())},
        {"z", root / ("z" + clips[3].extension().string())},
    };
    fs::copy_file(clips[0], layout[2].second);
    fs::copy_file(clips[1], layout[1].second);
    fs::copy_file(clips[2], layout[0].second);
    fs::copy_file(clips[3], layout[3].second);
    std::ofstream(root / "notes.txt") << "not audio";
    fs::copy_file(clips[0], root / ".hidden.wav");
    return layout;  // already in byte order of the relative paths
}

// n synthetic 16-bit WAV clips of 2..5 s (different lengths, seeded noise + chirps) in `dir`.
std::vector<fs::path> make_wavs(const fs::path &dir, int n, double seconds_min = 2.0) {
    fs::create_directories(dir);
    std::vector<fs::path> v;
    uint32_t x = 20261204u;
    for (int k = 0; k < n; k++) {
        const int rate = k % 3 == 0 ? 22050 : 16000;
        const size_t len = (size_t)((seconds_min + 0.37 * (k % 9)) * rate);
        std::vector<int16_t> s(len);
        for (size_t i = 0; i < len; i++) {
            x = x * 1664525u + 1013904223u;
            s[i] = (int16_t)(4000.0 * std::sin(0.002 * (double)i * (1.0 + (double)k)) + (double)((int)(x >> 21) - 1024));
        }
        char name[32];
        std::snprintf(name, sizeof name, "c%03d.wav", k);
        write_wav16(dir / name, s, rate);
        v.push_back(dir / name);
    }
    return v;
}

// Asserts that every output of `ref` exists in `out` with the same bytes (and nothing else but the index
// and params.json, whose content may differ in "skipped" flags).
void expect_same_outputs(const fs::path &ref, const fs::path &out) {
    auto a = visible_files(ref), b = visible_files(out);
    std::set<std::string> ka, kb;
    for (const auto &kv : a) ka.insert(kv.first);
    for (const auto &kv : b) kb.insert(kv.first);
    EXPECT_EQ(ka, kb);
    for (const auto &kv : a) {
        if (kv.first.rfind("index", 0) == 0 || kv.first == "params.json") continue;
        auto it = b.find(kv.first);
        if (it == b.end()) continue;
        if (kv.first.size() > 4 && kv.first.compare(kv.first.size() - 4, 4, ".scp") == 0) {
            // Kaldi scp lines name the ark by absolute path: the same text with the other folder.
            std::string want(kv.second.begin(), kv.second.end()), got(it->second.begin(), it->second.end());
            const std::string from = fs::absolute(ref).string(), to = fs::absolute(out).string();
            for (size_t p = want.find(from); p != std::string::npos; p = want.find(from, p + to.size()))
                want.replace(p, from.size(), to);
            EXPECT_EQ(got, want);
        } else {
            EXPECT_TRUE(it->second == kv.second) << kv.first << " differs";
        }
    }
}

// The index lines without the per-run "skipped" flag, as compact JSON text.
std::vector<std::string> index_lines(const fs::path &p) {
    JsonLines j;
    std::string why;
    EXPECT_TRUE(read_jsonl(p, &j, &why)) << why;
    std::vector<std::string> v;
    for (auto *o : j.v) {
        json_object_del(o, "skipped");
        char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        v.push_back(s ? s : "");
        free(s);
    }
    return v;
}

// ------------------------------------------------------------------------------------------------
// Inputs
// ------------------------------------------------------------------------------------------------

// "corpus/" (with the trailing slash that aborted runs before) mirrors the tree; duplicate basenames in
// different folders never collide; hidden and non-audio files are not inputs.
TEST(JobInputs, NestedCorpusMirrorsTheTree) {
    TempDir t;
    auto corpus = make_corpus(t.path() / "corpus");
    const fs::path out = t.path() / "out";
    RunResult r = run_afx({"extract", "-q", (t.path() / "corpus").string() + "/", "-o", out.string()}, t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    for (size_t i = 0; i < corpus.size(); i++) {
        SCOPED_TRACE(corpus[i].first);
        Npy npy;
        std::string why;
        ASSERT_TRUE(read_npy(out / (corpus[i].first + ".npy"), &npy, &why)) << why;
        Reference ref = reference(defaults(), corpus[i].second, i);
        EXPECT_EQ(npy.shape, ref.shape);
        EXPECT_TRUE(bit_equal(npy.data, ref.data));
    }
    EXPECT_FALSE(fs::exists(out / "notes.npy"));
    EXPECT_FALSE(fs::exists(out / ".hidden.npy"));
    EXPECT_FALSE(has_tmp_files(out));

    // The index: one line per clip, in order, with shape and output.
    JsonLines idx;
    std::string why;
    ASSERT_TRUE(read_jsonl(out / "index.jsonl", &idx, &why)) << why;
    ASSERT_EQ(idx.v.size(), corpus.size());
    for (size_t i = 0; i < corpus.size(); i++) {
        json_t *o = idx.v[i];
        EXPECT_EQ(json_integer_value(json_object_get(o, "index")), (json_int_t)i);
        EXPECT_EQ(jstr(o, "id"), corpus[i].first);
        EXPECT_EQ(jstr(o, "status"), "ok");
        EXPECT_EQ(jstr(o, "output"), corpus[i].first + ".npy");
        Npy npy;
        ASSERT_TRUE(read_npy(out / (corpus[i].first + ".npy"), &npy, &why)) << why;
        json_t *shape = json_object_get(o, "shape");
        ASSERT_EQ(json_array_size(shape), 2u);
        EXPECT_EQ(json_integer_value(json_array_get(shape, 0)), npy.shape[0]);
        EXPECT_EQ(json_integer_value(json_array_get(shape, 1)), npy.shape[1]);
        EXPECT_EQ(json_integer_value(json_object_get(o, "n_frames")), npy.shape[1]);
    }

    // params.json: the version and every parameter by name, with the value afx_params_get gives.
    json_error_t e;
    json_t *params = json_load_file((out / "params.json").c_str(), 0, &e);
    ASSERT_TRUE(json_is_object(params)) << e.text;
    EXPECT_EQ(jstr(params, "afx_version"), afx_version_string());
    json_t *fields = json_object_get(params, "params");
    afx_params d = defaults();
    int n = 0;
    for (; afx_params_field_name(n) != nullptr; n++) {
        const char *name = afx_params_field_name(n);
        char text[128];
        ASSERT_EQ(afx_params_get(&d, name, text, sizeof text), AFX_OK);
        json_t *v = json_object_get(fields, name);
        ASSERT_NE(v, nullptr) << name;
        if (json_is_string(v))
            EXPECT_EQ(std::string(json_string_value(v)), text) << name;
        else
            EXPECT_EQ(json_number_value(v), std::strtod(text, nullptr)) << name;
    }
    EXPECT_EQ((int)json_object_size(fields), n);
    json_decref(params);
}

// --files-from - (paths on standard input) with --root: keys are the paths under the root.
TEST(JobInputs, FilesFromStandardInputWithRoot) {
    TempDir t;
    auto corpus = make_corpus(t.path() / "corpus");
    const fs::path list = t.path() / "list.txt";
    {
        std::ofstream f(list);
        for (auto it = corpus.rbegin(); it != corpus.rend(); ++it) f << it->second.string() << "\r\n";  // CRLF too
        f << "\n";
    }
    const fs::path out = t.path() / "out";
    RunResult r = run_afx_stdin({"extract", "-q", "--files-from", "-", "--root", (t.path() / "corpus").string(), "-o",
                                 out.string()},
                                list, t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    for (size_t i = 0; i < corpus.size(); i++) {
        Npy npy;
        std::string why;
        ASSERT_TRUE(read_npy(out / (corpus[i].first + ".npy"), &npy, &why)) << why;
        EXPECT_TRUE(bit_equal(npy.data, reference(defaults(), corpus[i].second, 0).data)) << corpus[i].first;
    }
}

// "-" as an input decodes audio from standard input.
TEST(JobInputs, AudioFromStandardInput) {
    auto clips = pick_clips(1);
    ASSERT_GE(clips.size(), 1u);
    TempDir t;
    const fs::path out = t.path() / "out";
    RunResult r = run_afx_stdin({"extract", "-q", "-", "-o", out.string()}, clips[0], t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    Npy npy;
    std::string why;
    ASSERT_TRUE(read_npy(out / "stdin.npy", &npy, &why)) << why;
    EXPECT_TRUE(bit_equal(npy.data, reference(defaults(), clips[0], 0).data));
}

// A CSV manifest: labels and an extra column carried through; bad rows (missing file, bad offset, corrupt
// audio, wrong field count, no path) fail alone with a message naming the row; the good rows are written.
TEST(JobManifest, CsvWithLabelsAndBadRows) {
    auto clips = pick_clips(2);
    ASSERT_GE(clips.size(), 2u);
    TempDir t;
    const fs::path data = t.path() / "data";
    fs::create_directories(data / "audio");
    fs::copy_file(clips[0], data / "audio" / ("a" + clips[0].extension().string()));
    fs::copy_file(clips[1], data / "audio" / ("b" + clips[1].extension().string()));
    {
        const std::string junk = std::string("RIFF\x24\x00\x00\x00WAVEfmt ", 16) + "this is not audio at all";
        std::ofstream(data / "audio" / "corrupt.wav", std::ios::binary).write(junk.data(), (std::streamsize)junk.size());
    }
    const fs::path csv = data / "meta.csv";
    {
        std::ofstream f(csv);
        f << "path,label,speaker\n";
        f << "audio/a" << clips[0].extension().string() << ",3,alice\n";                    // row 2: ok
        f << "audio/missing.wav,1,bob\n";                                                    // row 3: missing
        f << "audio/corrupt.wav,2,carol\n";                                                  // row 4: corrupt
        f << "audio/a" << clips[0].extension().string() << ",1\n";                          // row 5: 2 fields
        f << ",4,dave\n";                                                                    // row 6: no path
        f << "\"audio/b" << clips[1].extension().string() << "\",\"dog, barking\",\"eve\"\n";  // row 7: ok, quoted
    }
    const fs::path out = t.path() / "out", report = t.path() / "report.json";
    // From another folder: the manifest's relative paths resolve against its own folder.
    RunResult r = run_afx({"extract", csv.string(), "-o", out.string(), "--report", report.string()}, t.path());
    EXPECT_EQ(r.code, 1) << r.err;
    Npy npy;
    std::string why;
    ASSERT_TRUE(read_npy(out / "audio" / "a.npy", &npy, &why)) << why;
    EXPECT_TRUE(bit_equal(npy.data, reference(defaults(), clips[0], 0).data));
    ASSERT_TRUE(read_npy(out / "audio" / "b.npy", &npy, &why)) << why;
    EXPECT_TRUE(bit_equal(npy.data, reference(defaults(), clips[1], 0).data));
    EXPECT_NE(r.err.find("missing.wav"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("corrupt.wav"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("row 5: 2 fields, the header has 3"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("row 6: no path"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("2 ok, 4 failed"), std::string::npos) << r.err;

    JsonLines idx;
    ASSERT_TRUE(read_jsonl(out / "index.jsonl", &idx, &why)) << why;
    ASSERT_EQ(idx.v.size(), 6u);
    const std::vector<std::string> status = {"ok", "error", "error", "error", "error", "ok"};
    for (size_t i = 0; i < 6; i++) EXPECT_EQ(jstr(idx.v[i], "status"), status[i]) << i;
    EXPECT_EQ(jstr(idx.v[0], "label"), "3");
    EXPECT_EQ(jstr(json_object_get(idx.v[0], "meta"), "speaker"), "alice");
    EXPECT_EQ(jstr(idx.v[5], "label"), "dog, barking");
    EXPECT_EQ(jstr(json_object_get(idx.v[5], "meta"), "speaker"), "eve");
    EXPECT_NE(jstr(idx.v[2], "error").find("corrupt.wav"), std::string::npos);

    json_error_t e;
    json_t *rep = json_load_file(report.c_str(), 0, &e);
    ASSERT_TRUE(json_is_object(rep)) << e.text;
    json_t *counts = json_object_get(rep, "counts");
    EXPECT_EQ(json_integer_value(json_object_get(counts, "ok")), 2);
    EXPECT_EQ(json_integer_value(json_object_get(counts, "failed")), 4);
    EXPECT_EQ(json_array_size(json_object_get(rep, "failed")), 4u);
    EXPECT_TRUE(json_is_number(json_object_get(rep, "clips_per_second")));
    EXPECT_TRUE(json_is_number(json_object_get(rep, "audio_hours_per_second")));
    json_decref(rep);
}

// A JSONL manifest with ids, integer labels, per-clip offset and duration.
TEST(JobManifest, JsonlIdsLabelsOffsetAndDuration) {
    auto clips = pick_clips(2);
    ASSERT_GE(clips.size(), 2u);
    TempDir t;
    const fs::path jl = t.path() / "m.jsonl";
    {
        std::ofstream f(jl);
        f << "{\"path\": \"" << clips[0].string() << "\", \"id\": \"utt-1\", \"label\": 7}\n";
        f << "{\"path\": \"" << clips[1].string() << "\", \"id\": \"utt-2\", \"label\": 0, \"offset\": 0.25, "
          << "\"duration\": 0.5, \"split\": \"train\"}\n";
        f << "{not json}\n";
    }
    const fs::path out = t.path() / "out";
    RunResult r = run_afx({"extract", "-q", jl.string(), "-o", out.string()}, t.path());
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("line 3: invalid JSON"), std::string::npos) << r.err;
    Npy npy;
    std::string why;
    ASSERT_TRUE(read_npy(out / "utt-1.npy", &npy, &why)) << why;
    EXPECT_TRUE(bit_equal(npy.data, reference(defaults(), clips[0], 0).data));

    // Reference: the library loads the same span, then computes it alone.
    ASSERT_TRUE(read_npy(out / "utt-2.npy", &npy, &why)) << why;
    Reference ref = reference(defaults(), clips[1], 1, 0.25, 0.5);
    EXPECT_EQ(ref.n_samples, 8000);
    EXPECT_EQ(npy.shape, ref.shape);
    EXPECT_TRUE(bit_equal(npy.data, ref.data));
    JsonLines idx;
    ASSERT_TRUE(read_jsonl(out / "index.jsonl", &idx, &why)) << why;
    ASSERT_EQ(idx.v.size(), 3u);
    EXPECT_EQ(json_integer_value(json_object_get(idx.v[1], "label")), 0);
    EXPECT_EQ(json_real_value(json_object_get(idx.v[1], "offset")), 0.25);
    EXPECT_EQ(jstr(json_object_get(idx.v[1], "meta"), "split"), "train");
}

// ------------------------------------------------------------------------------------------------
// Fixed length
// ------------------------------------------------------------------------------------------------

TEST(JobLength, FixedLengthAndClipSecondsPadOrCut) {
    auto clips = pick_clips(3);
    ASSERT_GE(clips.size(), 3u);
    TempDir t;
    afx_params p = defaults();
    p.fixed_length = 8000;
    const fs::path a = t.path() / "a", b = t.path() / "b";
    std::vector<std::string> in = strings(clips);
    RunResult r = run_afx(concat({"extract", "-q", "--fixed-length", "8000", "-o", a.string()}, in), t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    r = run_afx(concat({"extract", "-q", "--clip-seconds", "0.5", "-o", b.string()}, in), t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    for (size_t i = 0; i < clips.size(); i++) {
        SCOPED_TRACE(clips[i].string());
        Npy npy;
        std::string why;
        ASSERT_TRUE(read_npy(npy_path(a, clips[i]), &npy, &why)) << why;
        Reference ref = reference(p, clips[i], i);
        EXPECT_EQ(npy.shape, ref.shape);
        EXPECT_EQ(npy.shape[1], ref.frames_for_length);
        EXPECT_TRUE(bit_equal(npy.data, ref.data));
        EXPECT_TRUE(read_bytes(npy_path(a, clips[i])) == read_bytes(npy_path(b, clips[i])));
    }
}

// ------------------------------------------------------------------------------------------------
// Parallelism
// ------------------------------------------------------------------------------------------------

// 16-bit files at the target rate are decoded as int16 with their channels and downmixed by the library
// (keep_int16); others come as float32 mono. Every output must equal the float32 path's (reference(): the
// loader's default float decoding, downmix and resampling, then the library alone), for batches of int16
// stereo only, of mono only, and of both kinds mixed with a file that needs resampling.
TEST(JobInputs, SixteenBitSourcesAtTheTargetRateEqualTheFloatPath) {
    TempDir t;
    const fs::path dir = t.path() / "in";
    fs::create_directories(dir);
    std::vector<fs::path> files;
    uint32_t x = 77u;
    auto noise = [&]() { x = x * 1664525u + 1013904223u; return (int)(x >> 20) - 2048; };
    for (int k = 0; k < 6; k++) {
        const int channels = k < 3 ? 2 : 1, rate = k == 4 ? 22050 : 16000;
        const size_t frames = (size_t)(rate * (1.0 + 0.3 * k));
        std::vector<int16_t> s(frames * (size_t)channels);
        for (size_t i = 0; i < frames; i++)
            for (int c = 0; c < channels; c++)
                s[i * (size_t)channels + (size_t)c] =
                    (int16_t)(9000.0 * std::sin(0.01 * (double)i * (1.0 + c + k)) + noise());
        char name[32];
        std::snprintf(name, sizeof name, "s%d.wav", k);
        std::ofstream f(dir / name, std::ios::binary);
        auto u32 = [&](uint32_t v) { for (int b = 0; b < 4; b++) f.put((char)((v >> (8 * b)) & 0xFF)); };
        auto u16 = [&](uint16_t v) { for (int b = 0; b < 2; b++) f.put((char)((v >> (8 * b)) & 0xFF)); };
        const uint32_t bytes = (uint32_t)(s.size() * 2);
        f.write("RIFF", 4); u32(36 + bytes); f.write("WAVE", 4);
        f.write("fmt ", 4); u32(16); u16(1); u16((uint16_t)channels); u32((uint32_t)rate);
        u32((uint32_t)(rate * 2 * channels)); u16((uint16_t)(2 * channels)); u16(16);
        f.write("data", 4); u32(bytes);
        for (int16_t v : s) u16((uint16_t)v);
        f.close();
        files.push_back(dir / name);
    }
    afx_params p = defaults();
    p.feature = AFX_FEATURE_MFCC;
    p.normalize = AFX_NORM_UTTERANCE;
    // batch 3: [stereo x3] int16, [mono, mono 22.05 kHz, mono] mixed; batch 6: all mixed; batch 1: one each
    for (const char *batch : {"3", "6", "1"}) {
        SCOPED_TRACE(std::string("--batch-size ") + batch);
        const fs::path out = t.path() / (std::string("o") + batch);
        RunResult r = run_afx({"extract", "-q", "--jobs", "1", "--batch-size", batch, "--feature", "mfcc", "--normalize",
                               "utterance", dir.string(), "-o", out.string()}, t.path());
        ASSERT_EQ(r.code, 0) << r.err;
        for (size_t k = 0; k < files.size(); k++) {
            Npy npy;
            std::string why;
            ASSERT_TRUE(read_npy(out / files[k].filename().replace_extension(".npy"), &npy, &why)) << why;
            Reference ref = reference(p, files[k], k);
            EXPECT_EQ(npy.shape, ref.shape) << files[k];
            EXPECT_TRUE(bit_equal(npy.data, ref.data)) << files[k] << " differs from the float32 path";
        }
    }
}

// --jobs, --batch-size and the pipeline mode (decode threads + one compute thread, the CUDA path, run here
// on the CPU backend) give the same bytes; dither and masks are keyed by the global clip index.
TEST(JobParallel, JobsBatchSizeAndPipelineAreInvisible) {
    TempDir t;
    make_wavs(t.path() / "in", 13);
    const std::vector<std::string> opts = {"--dither", "0.5", "--seed", "5", "--time-masks", "2", "--time-mask-param",
                                           "6", "--freq-masks", "1", "--freq-mask-param", "5"};
    const fs::path one = t.path() / "one", three = t.path() / "three";
    RunResult r = run_afx(concat(concat({"extract", "-q", "--jobs", "1", "--batch-size", "16"}, opts),
                                 {(t.path() / "in").string(), "-o", one.string()}),
                          t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    r = run_afx(concat(concat({"extract", "-q", "--jobs", "3", "--batch-size", "2"}, opts),
                       {(t.path() / "in").string(), "-o", three.string()}),
                t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    expect_same_outputs(one, three);

    // In-process, pipeline mode.
    afx_params p = defaults();
    p.dither = 0.5f;
    p.dither_seed = p.mask_seed = 5;
    p.n_time_masks = 2;
    p.time_mask_param = 6;
    p.n_freq_masks = 1;
    p.freq_mask_param = 5;
    p.max_batch = 3;
    const std::string in = (t.path() / "in").string(), outp = (t.path() / "pipe").string();
    afx_job_source src{AFX_SRC_PATH, in.c_str()};
    afx_job_config cfg{};
    cfg.sources = &src;
    cfg.n_sources = 1;
    cfg.outdir = outp.c_str();
    cfg.format = AFX_JOB_NPY;
    cfg.shard_size = 1000;
    cfg.jobs = 2;
    cfg.shard_count = 1;
    cfg.quiet = 1;
    cfg.pipeline = 1;
    ASSERT_EQ(afx_job_run(&cfg, &p), AFX_JOB_EXIT_OK);
    expect_same_outputs(one, t.path() / "pipe");
    cfg.format = AFX_JOB_WDS;
    cfg.shard_size = 4;
    const std::string wp = (t.path() / "pipe_wds").string(), ww = (t.path() / "work_wds").string();
    cfg.outdir = wp.c_str();
    ASSERT_EQ(afx_job_run(&cfg, &p), AFX_JOB_EXIT_OK);
    cfg.pipeline = 0;
    cfg.jobs = 3;
    cfg.outdir = ww.c_str();
    ASSERT_EQ(afx_job_run(&cfg, &p), AFX_JOB_EXIT_OK);
    expect_same_outputs(t.path() / "work_wds", t.path() / "pipe_wds");

    // The reference of one clip (global index 4 in byte order of the names).
    Npy npy;
    std::string why;
    ASSERT_TRUE(read_npy(one / "c004.npy", &npy, &why)) << why;
    p.max_batch = 16;
    EXPECT_TRUE(bit_equal(npy.data, reference(p, t.path() / "in" / "c004.wav", 4).data));
}

// ------------------------------------------------------------------------------------------------
// Restart, concurrency, shards
// ------------------------------------------------------------------------------------------------

// kill -9 at some moment of a run leaves no visible file that differs from the uninterrupted run's (no
// partial or mixed output, no temporary that looks like one); a rerun finishes, skipping what is complete,
// and gives exactly the uninterrupted outputs.
void kill_and_resume(const std::vector<std::string> &format_args) {
    TempDir t;
    make_wavs(t.path() / "in", 24, 4.0);
    const std::string in = (t.path() / "in").string();
    const fs::path ref = t.path() / "ref";
    RunResult r = run_afx(concat(concat({"extract", "-q", "--jobs", "1", "--batch-size", "2"}, format_args),
                                 {in, "-o", ref.string()}),
                          t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    auto want = visible_files(ref);

    int killed_mid_run = 0;
    for (int attempt = 0; attempt < 6 && killed_mid_run < 2; attempt++) {
        const fs::path out = t.path() / ("out" + std::to_string(attempt));
        const std::vector<std::string> args =
            concat(concat({"extract", "-q", "--jobs", "1", "--batch-size", "2"}, format_args), {in, "-o", out.string()});
        pid_t pid = spawn_afx(args, t.path() / "log.txt");
        // Wait until some output is recorded, then a little more (a different moment each attempt).
        const fs::path journal = out / ".afx-state" / "journal-0-of-1.jsonl";
        for (int k = 0; k < 4000 && (!fs::exists(journal) || fs::file_size(journal) == 0); k++)
            std::this_thread::sleep_for(std::chrono::microseconds(500));
        std::this_thread::sleep_for(std::chrono::milliseconds(7 * attempt));
        kill(pid, SIGKILL);
        int code = wait_code(pid);
        if (code == 128 + SIGKILL) killed_mid_run++;

        // Whatever is visible is exactly the uninterrupted run's.
        for (const auto &kv : visible_files(out)) {
            if (kv.first.rfind("index", 0) == 0 || kv.first == "params.json") continue;
            auto it = want.find(kv.first);
            ASSERT_NE(it, want.end()) << "unexpected file " << kv.first;
            EXPECT_TRUE(it->second == kv.second) << kv.first << " is visible but differs from the complete output";
        }
        r = run_afx(concat(args, {"--report", (t.path() / "rep.json").string()}), t.path());
        ASSERT_EQ(r.code, 0) << r.err;
        expect_same_outputs(ref, out);
        EXPECT_EQ(index_lines(ref / "index.jsonl"), index_lines(out / "index.jsonl"));
        EXPECT_FALSE(has_tmp_files(out)) << "the rerun removes the killed run's temporaries";
    }
    EXPECT_GE(killed_mid_run, 1) << "no attempt interrupted the run: make the corpus larger";
}

TEST(JobRestart, KillNineThenResumeNpy) { kill_and_resume({}); }
TEST(JobRestart, KillNineThenResumeWebDataset) { kill_and_resume({"--format", "wds", "--shard-size", "3"}); }
TEST(JobRestart, KillNineThenResumeKaldiArk) { kill_and_resume({"--format", "ark", "--shard-size", "4"}); }

// A rerun skips complete outputs (reported as skipped) and redoes one that was removed; --force redoes all;
// other parameters never reuse an output.
TEST(JobRestart, RerunSkipsCompleteOutputsOnly) {
    TempDir t;
    make_wavs(t.path() / "in", 6);
    const std::string in = (t.path() / "in").string();
    const fs::path out = t.path() / "out";
    RunResult r = run_afx({"extract", in, "-o", out.string()}, t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    auto first = visible_files(out);
    fs::remove(out / "c002.npy");
    r = run_afx({"extract", in, "-o", out.string()}, t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("1 ok, 0 failed, 5 skipped"), std::string::npos) << r.err;
    EXPECT_TRUE(visible_files(out)["c002.npy"] == first["c002.npy"]);
    r = run_afx({"extract", "--force", in, "-o", out.string()}, t.path());
    EXPECT_NE(r.err.find("6 ok, 0 failed, 0 skipped"), std::string::npos) << r.err;
    r = run_afx({"extract", "--n-mels", "40", in, "-o", out.string()}, t.path());
    EXPECT_NE(r.err.find("6 ok, 0 failed, 0 skipped"), std::string::npos) << r.err;
    Npy npy;
    std::string why;
    ASSERT_TRUE(read_npy(out / "c003.npy", &npy, &why)) << why;
    EXPECT_EQ(npy.shape[0], 40);
}

// Two runs with different parameters into one folder at the same time: every output is exactly one of the
// two runs' outputs, never a mix (they shared "<name>.npy.tmp" before).
TEST(JobConcurrency, TwoRunsIntoOneFolderNeverMix) {
    TempDir t;
    make_wavs(t.path() / "in", 16, 4.0);
    const std::string in = (t.path() / "in").string();
    const std::vector<std::string> a_opts = {"--n-mels", "64"}, b_opts = {"--n-mels", "64", "--log", "log10"};
    const fs::path ra = t.path() / "ra", rb = t.path() / "rb";
    ASSERT_EQ(run_afx(concat(concat({"extract", "-q"}, a_opts), {in, "-o", ra.string()}), t.path()).code, 0);
    ASSERT_EQ(run_afx(concat(concat({"extract", "-q"}, b_opts), {in, "-o", rb.string()}), t.path()).code, 0);
    auto fa = visible_files(ra), fb = visible_files(rb);
    for (int round = 0; round < 3; round++) {
        const fs::path out = t.path() / ("out" + std::to_string(round));
        pid_t a = spawn_afx(concat(concat({"extract", "-q", "--jobs", "2", "--batch-size", "1"}, a_opts),
                                   {in, "-o", out.string()}),
                            t.path() / "a.log");
        pid_t b = spawn_afx(concat(concat({"extract", "-q", "--jobs", "2", "--batch-size", "1"}, b_opts),
                                   {in, "-o", out.string()}),
                            t.path() / "b.log");
        EXPECT_EQ(wait_code(a), 0) << read_text(t.path() / "a.log");
        EXPECT_EQ(wait_code(b), 0) << read_text(t.path() / "b.log");
        int from_a = 0, from_b = 0;
        for (const auto &kv : visible_files(out)) {
            if (kv.first.rfind("index", 0) == 0 || kv.first == "params.json") continue;
            bool is_a = fa.count(kv.first) && fa[kv.first] == kv.second;
            bool is_b = fb.count(kv.first) && fb[kv.first] == kv.second;
            EXPECT_TRUE(is_a || is_b) << kv.first << " is neither run's output";
            from_a += is_a;
            from_b += is_b;
        }
        EXPECT_EQ(from_a + from_b, 16);
        EXPECT_FALSE(has_tmp_files(out));
    }
}

// --shard i/n, SLURM_ARRAY_TASK_* and JOB_COMPLETION_INDEX: the union of the shards is the single run.
void expect_shard_union(const std::vector<std::string> &format_args) {
    TempDir t;
    make_wavs(t.path() / "in", 11);
    const std::string in = (t.path() / "in").string();
    const fs::path single = t.path() / "single";
    ASSERT_EQ(run_afx(concat(concat({"extract", "-q"}, format_args), {in, "-o", single.string()}), t.path()).code, 0);
    auto want = visible_files(single);
    const std::vector<std::string> single_index = index_lines(single / "index.jsonl");

    struct Way {
        std::string name;
        std::function<std::pair<std::vector<std::string>, std::vector<std::string>>(int)> args_env;
    };
    const std::vector<Way> ways = {
        {"--shard", [](int i) { return std::make_pair(std::vector<std::string>{"--shard", std::to_string(i) + "/3"},
                                                      std::vector<std::string>{}); }},
        {"slurm", [](int i) { return std::make_pair(std::vector<std::string>{},
                                                    std::vector<std::string>{"SLURM_ARRAY_TASK_ID=" + std::to_string(i + 1),
                                                                             "SLURM_ARRAY_TASK_MIN=1",
                                                                             "SLURM_ARRAY_TASK_COUNT=3"}); }},
        {"k8s", [](int i) { return std::make_pair(std::vector<std::string>{"--shards", "3"},
                                                  std::vector<std::string>{"JOB_COMPLETION_INDEX=" + std::to_string(i)}); }},
    };
    for (const auto &way : ways) {
        SCOPED_TRACE(way.name);
        const fs::path out = t.path() / way.name;
        std::vector<std::string> lines;
        for (int i = 0; i < 3; i++) {
            auto ae = way.args_env(i);
            pid_t pid = spawn_afx(concat(concat(concat({"extract", "-q"}, format_args), ae.first), {in, "-o", out.string()}),
                                  t.path() / "log.txt", ae.second);
            ASSERT_EQ(wait_code(pid), 0) << read_text(t.path() / "log.txt");
            char suffix[64];
            std::snprintf(suffix, sizeof suffix, "index-%05d-of-%05d.jsonl", i, 3);
            auto part = index_lines(out / suffix);
            EXPECT_FALSE(part.empty());
            lines.insert(lines.end(), part.begin(), part.end());
        }
        EXPECT_EQ(lines, single_index);
        auto got = visible_files(out);
        for (const auto &kv : want) {
            if (kv.first.rfind("index", 0) == 0 || kv.first == "params.json" || kv.first.rfind("feats", 0) == 0 ||
                kv.first.rfind("table", 0) == 0)
                continue;
            ASSERT_TRUE(got.count(kv.first)) << kv.first;
            EXPECT_TRUE(got[kv.first] == kv.second) << kv.first;
        }
    }
}

TEST(JobShards, UnionEqualsSingleRunNpy) { expect_shard_union({}); }
TEST(JobShards, UnionEqualsSingleRunWebDataset) { expect_shard_union({"--format", "wds", "--shard-size", "2"}); }

// ------------------------------------------------------------------------------------------------
// Errors, names, temporaries, progress
// ------------------------------------------------------------------------------------------------

TEST(JobErrors, SetupErrorsExit2BeforeAnyWork) {
    auto clips = pick_clips(1);
    ASSERT_GE(clips.size(), 1u);
    TempDir t;
    const fs::path out = t.path() / "out";
    std::ofstream(t.path() / "nopath.csv") << "file,label\nx.wav,1\n";
    std::ofstream(t.path() / "plainfile") << "x";
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--format", "hdf5"}, "--format"},
        {{"--shard", "3/3"}, "--shard"},
        {{"--shard", "1-3"}, "--shard"},
        {{"--jobs", "0"}, "--jobs"},
        {{"--shard-size", "0"}, "--shard-size"},
        {{"--format", "table"}, "--pool"},
        {{"--fixed-length", "-5"}, "--fixed-length"},
        {{"--manifest", (t.path() / "missing.csv").string()}, "missing.csv"},
        {{(t.path() / "nopath.csv").string()}, "'path' column"},
        {{"--files-from", (t.path() / "nolist.txt").string()}, "nolist.txt"},
        {{"--shards", "2"}, "--shards"},
    };
    for (const auto &c : cases) {
        SCOPED_TRACE(c.first[0]);
        RunResult r = run_afx(concat(concat({"extract"}, c.first), {clips[0].string(), "-o", out.string()}), t.path());
        EXPECT_EQ(r.code, 2) << r.err;
        EXPECT_NE(r.err.find(c.second), std::string::npos) << r.err;
        EXPECT_FALSE(fs::exists(out));
    }
    // JOB_COMPLETION_INDEX without the count.
    pid_t pid = spawn_afx({"extract", clips[0].string(), "-o", out.string()}, t.path() / "log.txt",
                          {"JOB_COMPLETION_INDEX=1"});
    EXPECT_EQ(wait_code(pid), 2);
    EXPECT_NE(read_text(t.path() / "log.txt").find("--shards"), std::string::npos);
    // An output folder that cannot be created is found before any clip is decoded.
    RunResult r = run_afx({"extract", clips[0].string(), "-o", (t.path() / "plainfile" / "out").string()}, t.path());
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("plainfile"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("failed:"), std::string::npos) << "no clip may be tried: " << r.err;
}

// An input whose name is NAME_MAX long works (the temporary name no longer appends to it). Temporary files
// left by a killed run are removed by the next run that is alone in the folder; while another run holds
// the folder's run lock (it may be writing them), they are left alone.
TEST(JobOutputs, LongNamesAndStaleTemporaries) {
    auto clips = pick_clips(1);
    ASSERT_GE(clips.size(), 1u);
    TempDir t;
    const std::string stem(251, 'n');
    const fs::path input = t.path() / (stem + ".wav");  // 255 bytes
    fs::copy_file(clips[0], input);
    const fs::path out = t.path() / "out";
    fs::create_directories(out / "sub");
    fs::create_directories(out / ".afx-state");
    std::ofstream(out / ".afx.AbCdEf") << "stale";
    std::ofstream(out / "sub" / ".afx.GhIjKl") << "stale";
    int fd = open((out / ".afx-state" / "lock").c_str(), O_RDWR | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(flock(fd, LOCK_SH), 0);  // another run is working in the folder
    RunResult r = run_afx({"extract", "-q", input.string(), "-o", out.string()}, t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(fs::exists(out / ".afx.AbCdEf"));
    EXPECT_TRUE(fs::exists(out / "sub" / ".afx.GhIjKl"));
    close(fd);
    Npy npy;
    std::string why;
    ASSERT_TRUE(read_npy(out / (stem + ".npy"), &npy, &why)) << why;
    EXPECT_TRUE(bit_equal(npy.data, reference(defaults(), clips[0], 0).data));
    r = run_afx({"extract", input.string(), "-o", out.string()}, t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("removed 2 temporary files"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out / ".afx.AbCdEf"));
    EXPECT_FALSE(fs::exists(out / "sub" / ".afx.GhIjKl"));
    EXPECT_FALSE(has_tmp_files(out));
}

// Plain progress lines when stderr is not a terminal, and the summary; -q leaves only failures.
TEST(JobProgress, PlainLinesAndSummary) {
    TempDir t;
    make_wavs(t.path() / "in", 12, 8.0);
    const std::string in = (t.path() / "in").string();
    RunResult r = run_afx({"extract", "--jobs", "1", "--progress", "lines", "--progress-every", "0.001", in, "-o",
                           (t.path() / "o").string()},
                          t.path());
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("clips/s"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("audio-h/s"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("ETA"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("12 ok, 0 failed"), std::string::npos) << r.err;
    r = run_afx({"extract", "--force", "-q", "--progress", "bar", in, "-o", (t.path() / "o").string()}, t.path());
    EXPECT_EQ(r.err, "");
}

}  // namespace

#endif  // AFX_CLI_PATH
