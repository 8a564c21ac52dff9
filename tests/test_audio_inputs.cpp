// Inputs that are not regular files (issue 11, item 4): a FIFO, an anonymous pipe named through
// /dev/fd/N, /dev/stdin, and the CLI on a FIFO. Before the fix the path was opened twice (a
// readability check, then libsndfile): the check consumed the FIFO's writer so the second open
// blocked forever, and pipes looked empty ("Format not recognised").
//
// Reference: the same bytes loaded from a regular file (the contract is that the input kind does not
// change the result), plus the exact length of the file's samples parsed here. Writers are threads;
// every wait is bounded so that a regression fails instead of hanging the suite.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "afx_audio.h"
#include "audio_util.h"

namespace {

using namespace audio_test;

// Writes `bytes` to `fd` (then closes it) from a thread; write errors (a reader that gave up) end it.
std::thread writer(int fd, std::vector<uint8_t> bytes)
{
    return std::thread([fd, b = std::move(bytes)] {
        size_t done = 0;
        while (done < b.size()) {
            const ssize_t n = write(fd, b.data() + done, b.size() - done);
            if (n <= 0) break;
            done += static_cast<size_t>(n);
        }
        close(fd);
    });
}

// Opens a FIFO for writing from a thread (open blocks until the reader opens it) and writes bytes.
std::thread fifo_writer(const std::string &path, std::vector<uint8_t> bytes)
{
    return std::thread([path, b = std::move(bytes)] {
        const int fd = open(path.c_str(), O_WRONLY);
        if (fd < 0) return;
        size_t done = 0;
        while (done < b.size()) {
            const ssize_t n = write(fd, b.data() + done, b.size() - done);
            if (n <= 0) break;
            done += static_cast<size_t>(n);
        }
        close(fd);
    });
}

// Runs a load on another thread and waits at most `seconds`; a hang fails the test (the thread is
// then detached: the process ends with the test binary).
struct Loaded {
    afx_status status = AFX_ERR_INTERNAL;
    std::vector<float> samples;
    int64_t n_samples = -1;
    std::string err;
};

bool load_within(const std::string &path, const afx_audio_options &o, double seconds, Loaded *out)
{
    auto task = std::make_shared<std::packaged_task<Loaded()>>([path, o] {
        Loaded r;
        Clip c;
        char err[AFX_ERROR_MAX] = "";
        r.status = afx_audio_load_file(path.c_str(), &o, &c.c, err, sizeof err);
        r.err = err;
        r.samples = c.samples();
        r.n_samples = c.c.n_samples;
        return r;
    });
    std::future<Loaded> f = task->get_future();
    std::thread([task] { (*task)(); }).detach();
    if (f.wait_for(std::chrono::duration<double>(seconds)) != std::future_status::ready) return false;
    *out = f.get();
    return true;
}

std::vector<float> load_regular(const std::string &path, const afx_audio_options &o)
{
    Clip c;
    char err[AFX_ERROR_MAX] = "";
    EXPECT_EQ(afx_audio_load_file(path.c_str(), &o, &c.c, err, sizeof err), AFX_OK) << err;
    return c.samples();
}

// SIGPIPE would kill the test process when a reader stops early; ignore it for the test's duration.
struct IgnoreSigpipe {
    struct sigaction old {};
    IgnoreSigpipe()
    {
        struct sigaction sa {};
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, &old);
    }
    ~IgnoreSigpipe() { sigaction(SIGPIPE, &old, nullptr); }
};

TEST(AudioInputs, FifoDecodesLikeTheFile)
{
    TempDir dir;
    IgnoreSigpipe guard;
    for (const char *name : {"alsa_Front_Center.wav", "spi_loop_amen.flac", "conv_loop_amen_44k.mp3",
                             "fdo_service-login.oga"}) {
        SCOPED_TRACE(name);
        const std::string fifo = dir.file("input.fifo");
        unlink(fifo.c_str());
        ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
        const afx_audio_options o = opts(16000, 1);
        const std::vector<float> expected = load_regular(example(name), o);
        ASSERT_FALSE(expected.empty());
        std::thread w = fifo_writer(fifo, read_bytes(example(name)));
        Loaded got;
        const bool done = load_within(fifo, o, 20.0, &got);
        if (!done) {
            w.detach();
            FAIL() << "loading from a FIFO did not return within 20 s";
        }
        w.join();
        ASSERT_EQ(got.status, AFX_OK) << got.err;
        EXPECT_TRUE(got.samples == expected);
    }
}

TEST(AudioInputs, AnonymousPipeThroughDevFd)
{
    IgnoreSigpipe guard;
    const afx_audio_options o = opts(22050, 1);
    for (const char *name : {"tts_espeak-ng_en-us.wav", "spi_misc_burp.flac", "conv_loop_amen_44k.mp3"}) {
        SCOPED_TRACE(name);
        int fds[2];
        ASSERT_EQ(pipe(fds), 0);
        const std::string path = "/dev/fd/" + std::to_string(fds[0]);
        std::thread w = writer(fds[1], read_bytes(example(name)));
        Loaded got;
        const bool done = load_within(path, o, 20.0, &got);
        if (!done) {
            w.detach();
            FAIL() << "loading from a pipe did not return within 20 s";
        }
        w.join();
        close(fds[0]);
        ASSERT_EQ(got.status, AFX_OK) << got.err;
        EXPECT_TRUE(got.samples == load_regular(example(name), o));
    }
}

// /dev/stdin is a pipe here: fd 0 is swapped for the read end of a pipe during the load.
TEST(AudioInputs, DevStdinPipe)
{
    IgnoreSigpipe guard;
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const int saved = dup(0);
    ASSERT_GE(saved, 0);
    ASSERT_EQ(dup2(fds[0], 0), 0);
    close(fds[0]);
    std::thread w = writer(fds[1], read_bytes(example("spi_loop_amen.flac")));
    const afx_audio_options o = opts(16000, 1);
    Loaded got;
    const bool done = load_within("/dev/stdin", o, 20.0, &got);
    dup2(saved, 0);
    close(saved);
    if (!done) {
        w.detach();
        FAIL() << "loading /dev/stdin did not return within 20 s";
    }
    w.join();
    ASSERT_EQ(got.status, AFX_OK) << got.err;
    EXPECT_TRUE(got.samples == load_regular(example("spi_loop_amen.flac"), o));
}

// A non-seekable input is read into memory: max_stream_bytes bounds it; an empty pipe is an empty input.
TEST(AudioInputs, StreamLimitAndEmptyPipe)
{
    IgnoreSigpipe guard;
    const std::vector<uint8_t> bytes = read_bytes(example("alsa_Front_Center.wav"));
    afx_audio_options o = opts(16000, 1);
    o.max_stream_bytes = static_cast<int64_t>(bytes.size()) - 1;
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    std::thread w = writer(fds[1], bytes);
    const std::string path = "/dev/fd/" + std::to_string(fds[0]);
    Loaded got;
    const bool done = load_within(path, o, 20.0, &got);
    close(fds[0]); // the writer, blocked on a full pipe, now gets EPIPE and ends
    w.join();
    ASSERT_TRUE(done);
    EXPECT_EQ(got.status, AFX_ERR_EXCEEDS_PLAN);
    EXPECT_TRUE(contains(got.err.c_str(), path) && contains(got.err.c_str(), "max_stream_bytes = " +
                                                                       std::to_string(bytes.size() - 1)))
        << got.err;

    // Exactly the limit is accepted.
    o.max_stream_bytes = static_cast<int64_t>(bytes.size());
    ASSERT_EQ(pipe(fds), 0);
    std::thread w2 = writer(fds[1], bytes);
    const std::string path2 = "/dev/fd/" + std::to_string(fds[0]);
    ASSERT_TRUE(load_within(path2, o, 20.0, &got));
    w2.join();
    close(fds[0]);
    EXPECT_EQ(got.status, AFX_OK) << got.err;
    EXPECT_EQ(got.n_samples, 22849); // 68545 frames at 48 kHz (its header) -> ceil(68545 / 3)

    ASSERT_EQ(pipe(fds), 0);
    close(fds[1]);
    const std::string empty = "/dev/fd/" + std::to_string(fds[0]);
    ASSERT_TRUE(load_within(empty, opts(16000, 1), 20.0, &got));
    close(fds[0]);
    EXPECT_EQ(got.status, AFX_ERR_DECODE);
    EXPECT_TRUE(contains(got.err.c_str(), "empty")) << got.err;
}

#ifdef AFX_CLI_PATH
// The reproducer: `mkfifo p.wav; cat ok.wav > p.wav & afx extract p.wav -o out`. The .npy
// written from the FIFO must equal the one written from the regular file.
TEST(AudioInputs, CliExtractsFromFifo)
{
    TempDir dir;
    IgnoreSigpipe guard;
    const std::string fifo = dir.file("p.wav"), regular = dir.file("r.wav");
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    write_bytes(regular, read_bytes(example("alsa_Front_Center.wav")));
    std::thread w = fifo_writer(fifo, read_bytes(example("alsa_Front_Center.wav")));
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        const std::string out = dir.file("out");
        const int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 2); // the CLI's summary line
        execl(AFX_CLI_PATH, AFX_CLI_PATH, "extract", fifo.c_str(), regular.c_str(), "-o", out.c_str(),
              static_cast<char *>(nullptr));
        _exit(127);
    }
    int status = -1;
    for (int i = 0; i < 400; ++i) { // 20 s
        if (waitpid(pid, &status, WNOHANG) == pid) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        status = -1;
    }
    if (status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        w.detach();
        FAIL() << "afx extract on a FIFO did not finish within 20 s";
    }
    w.join();
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    const std::vector<uint8_t> a = read_bytes(dir.file("out/p.npy")), b = read_bytes(dir.file("out/r.npy"));
    ASSERT_FALSE(a.empty());
    EXPECT_TRUE(a == b);
}
#endif

} // namespace
