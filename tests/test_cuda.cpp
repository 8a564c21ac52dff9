// GPU verification suite: every stage and every preset on the CUDA backend against the CPU reference.
//
// Each case runs the same batch through a CPU plan and a CUDA plan and compares them: frame counts and
// statuses exactly, NaN/Inf positions exactly, values per clip within the tolerances below, guard bytes
// around every output buffer untouched, frames past a clip's end exactly 0. The shapes are awkward on
// purpose (batch 1 and 200, empty clips, clips shorter than a frame, exactly n_fft, odd n_fft, minutes
// long, NaN clips inside a batch). SpecAugment masks and dither must be the same on both backends.
//
// Without a device these tests skip with a visible message (CI has the toolkit but no GPU). The tests
// whose names start with CudaBackendSelection / CudaCpuPlan need no device and always run.
//
// AFX_TEST_CUDA_SELFTEST=1 runs the comparison tests with the CPU on both sides: a check of this harness
// (configurations valid, guards, padding, mask detection) on a machine without a GPU. Tests that need the
// CUDA runtime itself (device output, streams, workspace) still skip then.
#include <atomic>
#include <chrono>
#include <functional>
#include <sstream>
#include <thread>

#include "common/half.h"  // afx_f32_to_f16 / afx_f32_to_bf16: the CPU's float -> 16-bit rounding
#include "ref.h"

#ifdef AFX_TEST_HAVE_CUDA
#include <cuda_runtime_api.h>

extern "C" {
#include "pack_pool.h"
}
#endif

namespace {

// ------------------------------------------------------------------------------------------------
// Environment
// ------------------------------------------------------------------------------------------------
bool selftest() {
    const char *e = std::getenv("AFX_TEST_CUDA_SELFTEST");
    return e && *e && std::strcmp(e, "0") != 0;
}

constexpr bool kBuiltWithCuda =
#ifdef AFX_TEST_HAVE_CUDA
    true;
#else
    false;
#endif

// The backend the comparison tests treat as "the GPU".
afx_backend gpu_backend() { return selftest() ? AFX_BACKEND_CPU : AFX_BACKEND_CUDA; }

// Why a GPU-vs-CPU test cannot run here (nullptr: it can).
const char *gpu_skip_reason(bool needs_real_device) {
    if (selftest() && !needs_real_device) return nullptr;
    if (!kBuiltWithCuda) return "built without CUDA (AFX_CUDA=OFF): GPU-vs-CPU comparison not run";
    if (afx_cuda_device_count() == 0)
        return "no CUDA device (afx_cuda_device_count() == 0): GPU-vs-CPU comparison not run";
    return nullptr;
}

#define AFX_REQUIRE_GPU()                                                         \
    do {                                                                          \
        if (const char *why_ = gpu_skip_reason(false)) GTEST_SKIP() << why_;      \
    } while (0)

// For tests that call the CUDA runtime themselves (no CPU stand-in possible).
#define AFX_REQUIRE_REAL_GPU()                                                    \
    do {                                                                          \
        if (const char *why_ = gpu_skip_reason(true)) GTEST_SKIP() << why_;       \
    } while (0)

std::string lower(std::string s) {
    for (char &c : s) c = (char)std::tolower((unsigned char)c);
    return s;
}

// ------------------------------------------------------------------------------------------------
// Input batches
// ------------------------------------------------------------------------------------------------

// Deterministic test audio: three sines under a slow envelope plus broadband noise. The noise keeps
// every frame's spectrum at least ~50 dB above float32 rounding, so log features are well conditioned
// (see the tolerance note below); the sines give peaks and dynamic range.
std::vector<float> test_signal(int64_t n, uint64_t seed, int sr, double amp = 0.5) {
    std::mt19937_64 g(seed * 0x9E3779B97F4A7C15ull + 12345);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    double f[3], a[3], ph[3];
    for (int k = 0; k < 3; k++) {
        f[k] = 40.0 + u(g) * 0.45 * sr;
        a[k] = 0.05 + 0.25 * u(g);
        ph[k] = 2 * ref::kPi * u(g);
    }
    const double env_f = 0.3 + 2.0 * u(g), noise = 0.03 + 0.05 * u(g);
    std::vector<float> x((size_t)std::max<int64_t>(n, 0));
    for (int64_t i = 0; i < n; i++) {
        const double t = (double)i / sr;
        double v = 0;
        for (int k = 0; k < 3; k++) v += a[k] * std::cos(2 * ref::kPi * f[k] * t + ph[k]);
        v *= 0.55 + 0.45 * std::sin(2 * ref::kPi * env_f * t);
        v += noise * (2.0 * u(g) - 1.0);
        x[(size_t)i] = (float)std::max(-1.0, std::min(1.0, amp * v / 0.6));
    }
    return x;
}

struct Batch {
    afx_sample_format fmt = AFX_SAMPLE_F32;
    int channels = 1;
    uint64_t first = 0;
    std::vector<int64_t> lengths;              // samples per channel
    std::vector<std::vector<float>> f32;       // interleaved
    std::vector<std::vector<int16_t>> s16;     // interleaved
    mutable std::vector<const void *> ptrs;

    int n() const { return (int)lengths.size(); }
    // Valid until the batch is modified (pointers into f32/s16).
    afx_input input() const {
        ptrs.assign(lengths.size(), nullptr);
        for (size_t i = 0; i < lengths.size(); i++) {
            if (lengths[i] == 0) continue;  // a clip of length 0 may be NULL
            ptrs[i] = fmt == AFX_SAMPLE_F32 ? (const void *)f32[i].data() : (const void *)s16[i].data();
        }
        afx_input in;
        std::memset(&in, 0, sizeof in);
        in.format = fmt;
        in.n_channels = channels;
        in.clips = ptrs.data();
        in.lengths = lengths.data();
        in.n_clips = n();
        in.first_clip_index = first;
        return in;
    }
};

Batch make_batch(const std::vector<int64_t> &lens, uint64_t seed, int sr, afx_sample_format fmt = AFX_SAMPLE_F32,
                 int channels = 1, uint64_t first = 0) {
    Batch b;
    b.fmt = fmt;
    b.channels = channels;
    b.first = first;
    b.lengths = lens;
    for (size_t i = 0; i < lens.size(); i++) {
        const int64_t n = lens[i];
        std::vector<float> il((size_t)(n * channels));
        for (int c = 0; c < channels; c++) {
            const std::vector<float> x = test_signal(n, seed * 1000 + i * 16 + (uint64_t)c, sr, 0.5 / (1 + c));
            for (int64_t s = 0; s < n; s++) il[(size_t)(s * channels + c)] = x[(size_t)s];
        }
        if (fmt == AFX_SAMPLE_S16) {
            std::vector<int16_t> q(il.size());
            for (size_t s = 0; s < il.size(); s++) q[s] = (int16_t)std::lround(il[s] * 32767.0f);
            b.s16.push_back(q);
            b.f32.emplace_back();
        } else {
            b.f32.push_back(il);
            b.s16.emplace_back();
        }
    }
    return b;
}

// ------------------------------------------------------------------------------------------------
// Output buffers with guard regions
// ------------------------------------------------------------------------------------------------
constexpr size_t kGuardBytes = 512;

uint8_t guard_byte(size_t i) { return (uint8_t)(0xA5u ^ (uint8_t)(i * 0x3Bu)); }

// The interior starts as a sentinel (12345.0f, or 0x5A5A for 16-bit output) so that an element the
// backend forgot to write (a padding frame) shows; the guards catch writes outside the buffer.
class Guarded {
  public:
    Guarded(size_t bytes, size_t elem) : raw_(bytes + 2 * kGuardBytes), bytes_(bytes) {
        for (size_t i = 0; i < kGuardBytes; i++) {
            raw_[i] = guard_byte(i);
            raw_[kGuardBytes + bytes + i] = guard_byte(i + 7);
        }
        if (elem == 4) {
            const float s = 12345.0f;
            for (size_t i = 0; i + 4 <= bytes; i += 4) std::memcpy(&raw_[kGuardBytes + i], &s, 4);
        } else {
            std::memset(&raw_[kGuardBytes], 0x5A, bytes);
        }
    }
    void *data() { return raw_.data() + kGuardBytes; }
    const uint8_t *bytes() const { return raw_.data() + kGuardBytes; }
    size_t size() const { return bytes_; }
    // "" when both guards are intact, else what was overwritten.
    std::string check() const {
        size_t before = 0, after = 0;
        for (size_t i = 0; i < kGuardBytes; i++) {
            before += raw_[i] != guard_byte(i);
            after += raw_[kGuardBytes + bytes_ + i] != guard_byte(i + 7);
        }
        if (!before && !after) return "";
        std::ostringstream os;
        os << before << " guard bytes overwritten before the output buffer, " << after << " after it";
        return os.str();
    }

  private:
    std::vector<uint8_t> raw_;
    size_t bytes_;
};

// IEEE half / bfloat16 bit patterns to float (independent decoders).
float half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    float v;
    if (e == 0) v = std::ldexp((float)m, -24);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = std::ldexp((float)(m | 0x400u), (int)e - 25);
    return sign ? -v : v;
}

float bf16_to_float(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float v;
    std::memcpy(&v, &u, 4);
    return v;
}

// Distance in units in the last place between two 16-bit floats of the same format (sign-magnitude).
int ulp16(uint16_t a, uint16_t b) {
    const int oa = (a & 0x8000u) ? -(int)(a & 0x7fffu) : (int)a;
    const int ob = (b & 0x8000u) ? -(int)(b & 0x7fffu) : (int)b;
    return std::abs(oa - ob);
}

// ------------------------------------------------------------------------------------------------
// One run of a batch on one backend
// ------------------------------------------------------------------------------------------------
struct Out {
    afx_status create_st = AFX_ERR_INTERNAL;
    afx_status st = AFX_ERR_INTERNAL;
    std::string err;
    afx_backend backend = AFX_BACKEND_CPU;
    afx_dtype dtype = AFX_DTYPE_F32;
    afx_layout layout = AFX_LAYOUT_FT;
    int pooled = 0;           // values per clip when pooled, else 0
    int nfeat = 0;            // values per frame
    int64_t stride = 0;       // frames_stride given
    std::vector<int64_t> nf;  // frame counts
    std::vector<float> v;     // decoded values
    std::vector<uint16_t> h;  // raw 16-bit patterns (F16/BF16)
    std::string guard_msg;

    int n() const { return (int)nf.size(); }
    int cols() const { return pooled ? pooled : nfeat; }
    // Rows compared for clip c: its valid frames, or the one pooled vector.
    int64_t rows(int c) const { return pooled ? 1 : std::max<int64_t>(nf[(size_t)c], 0); }
    size_t index(int c, int64_t t, int f) const {
        if (pooled) return (size_t)c * (size_t)pooled + (size_t)f;
        const size_t base = (size_t)c * (size_t)nfeat * (size_t)stride;
        if (layout == AFX_LAYOUT_FT) return base + (size_t)f * (size_t)stride + (size_t)t;
        return base + (size_t)t * (size_t)nfeat + (size_t)f;
    }
    float at(int c, int64_t t, int f) const { return v[index(c, t, f)]; }
};

// Runs a batch on an existing plan into a fresh guarded buffer with `stride_extra` spare frames.
Out run_on(afx_plan *plan, const Batch &b, int64_t stride_extra = 2) {
    Out o;
    o.create_st = AFX_OK;
    const afx_params *pp = afx_plan_params(plan);
    o.backend = afx_plan_backend(plan);
    o.dtype = pp->output_dtype;
    o.layout = pp->layout;
    o.nfeat = afx_plan_n_features(plan);
    o.pooled = pp->pooling == AFX_POOL_NONE ? 0 : pp->pooling == AFX_POOL_MEAN ? o.nfeat : 2 * o.nfeat;
    afx_input in = b.input();
    int64_t maxf = 0;
    afx_status st = afx_plan_output_shape(plan, &in, nullptr, &maxf);
    EXPECT_EQ(st, AFX_OK) << afx_plan_error(plan);
    if (st != AFX_OK) {
        o.st = st;
        return o;
    }
    o.stride = maxf + stride_extra;
    const size_t elems = afx_plan_output_size(plan, in.n_clips, o.stride);
    const size_t esize = o.dtype == AFX_DTYPE_F32 ? 4 : 2;
    Guarded g(elems * esize, esize);
    o.nf.assign((size_t)in.n_clips, -7);
    afx_output out;
    out.data = g.data();
    out.frames_stride = o.stride;
    out.n_frames = o.nf.data();
    o.st = afx_plan_execute(plan, &in, &out);
    o.err = afx_plan_error(plan);
    o.guard_msg = g.check();
    o.v.resize(elems);
    if (o.dtype == AFX_DTYPE_F32) {
        if (elems) std::memcpy(o.v.data(), g.bytes(), elems * 4);
    } else {
        o.h.resize(elems);
        if (elems) std::memcpy(o.h.data(), g.bytes(), elems * 2);
        for (size_t i = 0; i < elems; i++)
            o.v[i] = o.dtype == AFX_DTYPE_F16 ? half_to_float(o.h[i]) : bf16_to_float(o.h[i]);
    }
    return o;
}

Out run(const afx_params &p0, afx_backend be, const Batch &b, int64_t stride_extra = 2) {
    afx_params p = p0;
    p.backend = be;
    afx_plan *plan = nullptr;
    char err[AFX_ERROR_MAX] = {0};
    Out o;
    o.create_st = afx_plan_create(&p, &plan, err, sizeof err);
    if (o.create_st != AFX_OK) {
        o.st = o.create_st;
        o.err = err;
        return o;
    }
    ref::PlanPtr hold(plan);
    EXPECT_EQ(afx_plan_backend(plan), be) << "plan runs on the wrong backend";
    return run_on(plan, b, stride_extra);
}

// Guards intact, padding frames exactly 0, refused clips all 0.
void check_buffer(const Out &o, const char *who) {
    SCOPED_TRACE(who);
    EXPECT_EQ(o.guard_msg, "") << "out-of-bounds write on the " << who;
    int64_t bad_pad = 0, bad_refused = 0;
    for (int c = 0; c < o.n(); c++) {
        if (o.pooled) {
            if (o.nf[(size_t)c] < 0)
                for (int f = 0; f < o.pooled; f++) bad_refused += o.at(c, 0, f) != 0.0f;
            continue;
        }
        for (int64_t t = std::max<int64_t>(o.nf[(size_t)c], 0); t < o.stride; t++)
            for (int f = 0; f < o.nfeat; f++) (o.nf[(size_t)c] < 0 ? bad_refused : bad_pad) += o.at(c, t, f) != 0.0f;
    }
    EXPECT_EQ(bad_pad, 0) << "padding elements (frames past a clip's end) that are not 0 on the " << who;
    EXPECT_EQ(bad_refused, 0) << "elements of refused clips that are not 0 on the " << who;
}

// ------------------------------------------------------------------------------------------------
// Tolerances
// ------------------------------------------------------------------------------------------------
// Linear features (spectrogram, mel, and anything derived from them by normalization or pooling):
// relative L2 error per clip <= 1e-5. cuFFT and KissFFT round differently, ~1e-7 relative to the
// frame's energy, far below that.
//
// Log features (logmel, dB), unnormalized: element-wise |gpu - cpu| <= max(1e-3 * s, 1e-5 * |cpu|),
// restricted to elements within 60 dB of power (range R below) of the clip's maximum. Why: the FFT's
// float32 rounding error is absolute, about eps * ||frame|| ~ 1e-7 of the frame's largest bin. The log
// turns it into an absolute error of ~ eps * ||frame|| / |X_k|, which is ~1e-7 ln units at the top,
// ~1e-4 dB at -60 dB, and unbounded for bins that are mathematically ~0 (a constant frame, a pure tone
// between window zeros) where both backends only return rounding noise (e.g. -140 dB vs -150 dB). Those
// are outside the 60 dB range; they must still be finite/infinite alike and far below the maximum. R
// is 60 dB of power in the output's own units: ln(1e6) for ln, 6 for log10, 6 * db_multiplier for dB,
// times power/2 (a magnitude spectrogram spans half the log range for the same power ratio), times
// |out_scale|.
//
// MFCC and normalized/pooled log features mix all elements of a frame or clip, so they are compared
// element-wise everywhere with |gpu - cpu| <= max(1e-3 * s * L, 1e-5 * |cpu|), L the largest Kaldi
// lifter factor 1 + Q/2 (errors are multiplied by it). The test signals keep every frame broadband
// (noise ~50 dB above rounding), and the MFCC cases of degenerate clips use the dB log with top_db,
// which clamps the rounding-noise bins to the same floor on both sides.
//
// 16-bit outputs add one unit in the last place: 2^-10 relative for f16, 2^-7 for bf16.
enum class Kind { Linear, Log, Elementwise };

struct Tol {
    Kind kind = Kind::Linear;
    double rel = 1e-5;   // rel L2 (Linear) or relative part (others)
    double atol = 0.0;   // absolute part (Log, Elementwise)
    double range = 0.0;  // Log: compared range below the clip's extreme value
    bool flip = false;   // Log: out_scale < 0, the "loud" end is the minimum
    std::string describe() const {
        std::ostringstream os;
        os << (kind == Kind::Linear ? "rel L2" : kind == Kind::Log ? "log, 60 dB range" : "element-wise")
           << " rel " << rel << " atol " << atol << " range " << range;
        return os.str();
    }
};

Tol tolerance_for(const afx_params &p) {
    const double q = p.output_dtype == AFX_DTYPE_F16 ? std::ldexp(1.0, -10)
                     : p.output_dtype == AFX_DTYPE_BF16 ? std::ldexp(1.0, -7)
                                                        : 0.0;
    Tol t;
    t.rel = 1e-5 + q;
    const bool linear = p.feature == AFX_FEATURE_SPECTROGRAM || p.feature == AFX_FEATURE_MEL;
    if (linear) {
        t.kind = Kind::Linear;
        return t;
    }
    const double s = std::max(1e-6, (double)std::fabs(p.out_scale));
    const bool derived = p.feature == AFX_FEATURE_MFCC || p.normalize != AFX_NORM_NONE || p.pooling != AFX_POOL_NONE;
    if (!derived) {
        t.kind = Kind::Log;
        const double per_power = p.feature == AFX_FEATURE_DB ? (double)p.db_multiplier * 6.0
                                 : p.log_base == AFX_LOG_LOG10 ? 6.0
                                                               : 6.0 * std::log(10.0);
        t.range = per_power * (double)p.power / 2.0 * s;
        t.atol = 1e-3 * s;
        t.flip = p.out_scale < 0;
        return t;
    }
    t.kind = Kind::Elementwise;
    const bool scale_free = p.normalize == AFX_NORM_MINMAX || (p.normalize != AFX_NORM_NONE && p.norm_vars);
    double lifter = p.feature == AFX_FEATURE_MFCC && p.cepstral_lifter > 0 ? 1.0 + 0.5 * (double)p.cepstral_lifter : 1.0;
    t.atol = 1e-3 * (scale_free ? 1.0 : std::max(1.0, s)) * lifter;
    return t;
}

// ------------------------------------------------------------------------------------------------
// CPU vs GPU comparison
// ------------------------------------------------------------------------------------------------
struct Mismatch {
    int64_t t;
    int f;
    double gpu, cpu;
};

std::string show(const std::vector<Mismatch> &m) {
    std::ostringstream os;
    for (size_t i = 0; i < m.size() && i < 6; i++)
        os << "\n    frame " << m[i].t << " feature " << m[i].f << ": gpu " << m[i].gpu << " cpu " << m[i].cpu
           << " diff " << (m[i].gpu - m[i].cpu);
    if (m.size() > 6) os << "\n    ... " << m.size() - 6 << " more";
    return os.str();
}

void compare_clip(const Out &cpu, const Out &gpu, int c, const Tol &tol) {
    SCOPED_TRACE(testing::Message() << "clip " << c << " (" << cpu.nf[(size_t)c] << " frames)");
    const bool half = cpu.dtype != AFX_DTYPE_F32;
    std::vector<Mismatch> nonfinite, bad;
    double num = 0, den = 0, extreme = tol.flip ? INFINITY : -INFINITY;
    for (int64_t t = 0; t < cpu.rows(c); t++)
        for (int f = 0; f < cpu.cols(); f++) {
            const float b = cpu.at(c, t, f);
            if (std::isfinite(b)) extreme = tol.flip ? std::min(extreme, (double)b) : std::max(extreme, (double)b);
        }
    for (int64_t t = 0; t < cpu.rows(c); t++)
        for (int f = 0; f < cpu.cols(); f++) {
            const size_t i = cpu.index(c, t, f);
            const double a = gpu.v[i], b = cpu.v[i];
            if (!std::isfinite(a) || !std::isfinite(b)) {
                // NaN where NaN, +-Inf where the same Inf (16-bit: 65504 vs Inf is one ulp, allowed).
                const bool same = (std::isnan(a) && std::isnan(b)) ||
                                  (std::isinf(a) && std::isinf(b) && std::signbit(a) == std::signbit(b)) ||
                                  (half && !std::isnan(a) && !std::isnan(b) && ulp16(gpu.h[i], cpu.h[i]) <= 1);
                if (!same) nonfinite.push_back({t, f, a, b});
                continue;
            }
            switch (tol.kind) {
            case Kind::Linear:
                num += (a - b) * (a - b);
                den += b * b;
                break;
            case Kind::Log:
                if (std::fabs(b - extreme) <= tol.range) {
                    if (std::fabs(a - b) > std::max(tol.atol, tol.rel * std::fabs(b))) bad.push_back({t, f, a, b});
                } else if (std::fabs(a - extreme) < 0.5 * tol.range) {
                    bad.push_back({t, f, a, b});  // below the range on the CPU, near the top on the GPU
                }
                break;
            case Kind::Elementwise:
                if (std::fabs(a - b) > std::max(tol.atol, tol.rel * std::fabs(b))) bad.push_back({t, f, a, b});
                break;
            }
        }
    EXPECT_TRUE(nonfinite.empty()) << nonfinite.size() << " NaN/Inf positions differ" << show(nonfinite);
    if (tol.kind == Kind::Linear) {
        const double e = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
        EXPECT_LE(e, tol.rel) << "relative L2 error GPU vs CPU";
    } else {
        EXPECT_TRUE(bad.empty()) << bad.size() << " elements out of tolerance (" << tol.describe() << ")" << show(bad);
    }
}

// Full comparison of one batch run on both backends.
void compare(const Out &cpu, const Out &gpu, const Tol &tol) {
    ASSERT_EQ(cpu.create_st, AFX_OK) << "CPU plan: " << cpu.err;
    ASSERT_EQ(gpu.create_st, AFX_OK) << "GPU plan: " << gpu.err;
    ASSERT_EQ(gpu.st, cpu.st) << "status: gpu " << afx_status_name(gpu.st) << " (" << gpu.err << "), cpu "
                              << afx_status_name(cpu.st) << " (" << cpu.err << ")";
    ASSERT_EQ(gpu.nf, cpu.nf) << "frame counts differ";
    ASSERT_EQ(gpu.nfeat, cpu.nfeat);
    ASSERT_EQ(gpu.v.size(), cpu.v.size());
    check_buffer(cpu, "CPU output");
    check_buffer(gpu, "GPU output");
    for (int c = 0; c < cpu.n(); c++)
        if (cpu.nf[(size_t)c] >= 0) compare_clip(cpu, gpu, c, tol);
}

// 16-bit output: each backend's bit patterns are the shared rounding (kernels/common/half.h) of its
// own float32 result (at most 1 ulp off, for a value computed twice), and GPU vs CPU patterns are at
// most 1 ulp apart wherever their float32 values agree to better than half an ulp of the 16-bit format.
void check_half_bits(const Out &cpu16, const Out &gpu16, const Out &cpu32, const Out &gpu32) {
    ASSERT_EQ(cpu16.h.size(), cpu32.v.size());
    ASSERT_EQ(gpu16.h.size(), gpu32.v.size());
    ASSERT_EQ(cpu16.h.size(), gpu16.h.size());
    const bool f16 = cpu16.dtype == AFX_DTYPE_F16;
    auto conv = [f16](float x) { return f16 ? afx_f32_to_f16(x) : afx_f32_to_bf16(x); };
    const double half_ulp_rel = f16 ? std::ldexp(1.0, -12) : std::ldexp(1.0, -9);
    int64_t own_cpu = 0, own_gpu = 0, cross = 0, compared = 0;
    for (size_t i = 0; i < cpu16.h.size(); i++) {
        const float c32 = cpu32.v[i], g32 = gpu32.v[i];
        if (std::isnan(c32) || std::isnan(g32)) continue;
        own_cpu += cpu16.h[i] != conv(c32);
        own_gpu += ulp16(gpu16.h[i], conv(g32)) > 1;
        if (std::fabs((double)g32 - (double)c32) <= half_ulp_rel * std::fabs((double)c32)) {
            compared++;
            cross += ulp16(gpu16.h[i], cpu16.h[i]) > 1;
        }
    }
    EXPECT_EQ(own_cpu, 0) << "CPU 16-bit output is not the rounding of its float32 output";
    EXPECT_EQ(own_gpu, 0) << "GPU 16-bit output is more than 1 ulp from the CPU rounding of its float32 output";
    EXPECT_EQ(cross, 0) << "GPU vs CPU 16-bit patterns more than 1 ulp apart (of " << compared << " compared)";
    EXPECT_GT(compared, 0);
}

// The whole check of one configuration: CPU vs GPU on the batch, plus the 16-bit bit checks.
void check_config(const afx_params &p, const Batch &b, int64_t stride_extra = 2) {
    const Out cpu = run(p, AFX_BACKEND_CPU, b, stride_extra);
    const Out gpu = run(p, gpu_backend(), b, stride_extra);
    ASSERT_EQ(cpu.create_st, AFX_OK) << "CPU plan refused: " << cpu.err;
    ASSERT_EQ(gpu.create_st, AFX_OK) << "GPU plan refused: " << gpu.err;
    EXPECT_EQ(cpu.st, AFX_OK) << cpu.err;
    compare(cpu, gpu, tolerance_for(p));
    if (p.output_dtype != AFX_DTYPE_F32) {
        afx_params q = p;
        q.output_dtype = AFX_DTYPE_F32;
        const Out cpu32 = run(q, AFX_BACKEND_CPU, b, stride_extra);
        const Out gpu32 = run(q, gpu_backend(), b, stride_extra);
        compare(cpu32, gpu32, tolerance_for(q));
        check_half_bits(cpu, gpu, cpu32, gpu32);
    }
}

afx_params base_params() {
    afx_params p;
    afx_params_init(&p);
    p.max_batch = 8;
    p.max_samples = 20000;
    return p;
}

// Ragged stage batch: ~1 s, empty, shorter than a frame, exactly n_fft, prime, 0.2 s.
std::vector<int64_t> stage_lengths(const afx_params &p) {
    return {16037, 0, 150, (int64_t)afx_params_effective_n_fft(&p), 7919, 3200};
}

// ------------------------------------------------------------------------------------------------
// Every stage
// ------------------------------------------------------------------------------------------------
struct StageCase {
    std::string name;
    std::function<void(afx_params &)> mutate;
    afx_sample_format fmt = AFX_SAMPLE_F32;
    int channels = 1;
};

void PrintTo(const StageCase &c, std::ostream *os) { *os << c.name; }

std::vector<StageCase> stage_cases() {
    using P = afx_params &;
    const afx_sample_format F = AFX_SAMPLE_F32, S = AFX_SAMPLE_S16;
    std::vector<StageCase> v = {
        // features and power
        {"spectrogram_power2", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; }},
        {"spectrogram_power1", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.power = 1.0f; }},
        {"spectrogram_power1p5", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.power = 1.5f; }},
        {"mel_power2", [](P p) { p.feature = AFX_FEATURE_MEL; }},
        {"mel_power1", [](P p) { p.feature = AFX_FEATURE_MEL; p.power = 1.0f; }},
        {"mel_slaney", [](P p) { p.feature = AFX_FEATURE_MEL; p.mel_scale = AFX_MEL_SLANEY; p.mel_norm = AFX_MEL_NORM_SLANEY; }},
        {"mel_kaldi_scale", [](P p) { p.feature = AFX_FEATURE_MEL; p.mel_scale = AFX_MEL_KALDI; p.n_mels = 23; p.f_min = 20; p.f_max = -400; }},
        {"mel_linspace_freqs", [](P p) { p.feature = AFX_FEATURE_MEL; p.n_fft = 401; p.win_length = 0; p.n_mels = 64; p.mel_linspace_freqs = 1; }},
        {"logmel_allow_empty_filter", [](P p) { p.n_fft = 400; p.win_length = 0; p.n_mels = 128; p.mel_allow_empty = 1; p.mel_linspace_freqs = 1; }},
        {"logmel_ln", [](P p) { p.feature = AFX_FEATURE_LOGMEL; }},
        {"logmel_log10", [](P p) { p.feature = AFX_FEATURE_LOGMEL; p.log_base = AFX_LOG_LOG10; }},
        {"logmel_offset", [](P p) { p.feature = AFX_FEATURE_LOGMEL; p.log_offset = 1e-6f; p.log_floor = 1e-30f; }},
        {"logmel_magnitude", [](P p) { p.feature = AFX_FEATURE_LOGMEL; p.power = 1.0f; }},
        {"db_top80", [](P p) { p.feature = AFX_FEATURE_DB; }},
        {"db_no_top", [](P p) { p.feature = AFX_FEATURE_DB; p.top_db = -1.0f; }},
        {"db_top20", [](P p) { p.feature = AFX_FEATURE_DB; p.top_db = 20.0f; }},
        {"db_magnitude_ref", [](P p) { p.feature = AFX_FEATURE_DB; p.power = 1.0f; p.db_multiplier = 20.0f; p.db_ref = 0.5f; p.db_amin = 1e-5f; }},
        {"mfcc_db", [](P p) { p.feature = AFX_FEATURE_MFCC; }},
        {"mfcc_ln", [](P p) { p.feature = AFX_FEATURE_MFCC; p.mfcc_log = AFX_LOG_LN; }},
        {"mfcc_log10", [](P p) { p.feature = AFX_FEATURE_MFCC; p.mfcc_log = AFX_LOG_LOG10; p.n_mfcc = 40; }},
        {"mfcc_lifter22", [](P p) { p.feature = AFX_FEATURE_MFCC; p.mfcc_log = AFX_LOG_LN; p.n_mels = 23; p.n_mfcc = 13; p.cepstral_lifter = 22.0f; }},
        {"mfcc_tf_dct", [](P p) { p.feature = AFX_FEATURE_MFCC; p.mfcc_log = AFX_LOG_LN; p.log_offset = 1e-6f; p.dct_norm = AFX_DCT_TF; p.n_mfcc = 13; }},
        {"mfcc_all_coefficients", [](P p) { p.feature = AFX_FEATURE_MFCC; p.n_mels = 40; p.n_mfcc = 40; }},
        // framing
        {"spectrogram_center_reflect", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.pad_mode = AFX_PAD_REFLECT; }},
        {"spectrogram_center_constant", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.pad_mode = AFX_PAD_CONSTANT; }},
        {"spectrogram_snip_edges", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.center = 0; p.snip_edges = 1; }},
        {"spectrogram_no_snip_edges", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.center = 0; p.snip_edges = 0; }},
        {"logmel_no_snip_edges", [](P p) { p.center = 0; p.snip_edges = 0; }},
        {"logmel_center_constant", [](P p) { p.pad_mode = AFX_PAD_CONSTANT; }},
        {"logmel_drop_last_frame", [](P p) { p.drop_last_frame = 1; }},
        {"spectrogram_hop_gt_win", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.hop_length = 700; }},
        // odd and unusual n_fft
        {"spectrogram_nfft257", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.n_fft = 257; p.win_length = 0; p.hop_length = 100; }},
        {"logmel_nfft257", [](P p) { p.n_fft = 257; p.win_length = 0; p.hop_length = 100; p.n_mels = 40; }},
        {"logmel_nfft400_win300", [](P p) { p.n_fft = 400; p.win_length = 300; }},
        {"spectrogram_nfft511_constant", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.n_fft = 511; p.pad_mode = AFX_PAD_CONSTANT; }},
        {"spectrogram_nfft301_snip", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.n_fft = 301; p.win_length = 301; p.center = 0; }},
        {"mel_nfft375_win300_nosnip", [](P p) { p.feature = AFX_FEATURE_MEL; p.n_fft = 375; p.win_length = 300; p.center = 0; p.snip_edges = 0; p.n_mels = 40; }},
        {"logmel_round_pow2", [](P p) { p.win_length = 400; p.round_to_power_of_two = 1; p.center = 0; }},
        {"spectrogram_nfft4096", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.n_fft = 4096; p.win_length = 0; p.hop_length = 1024; }},
        {"spectrogram_nfft8", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.n_fft = 8; p.win_length = 0; p.hop_length = 3; }},
        {"spectrogram_nfft1000_prime_hop", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.n_fft = 1000; p.win_length = 999; p.hop_length = 97; }},
        // Kaldi steps (int16 sample scale; dither in sample units)
        {"kaldi_dither", [](P p) { p.input_scale = 32768.0f; p.dither = 1.0f; p.dither_seed = 42; p.center = 0; p.window = AFX_WINDOW_POVEY; p.window_periodic = 0; p.log_floor = FLT_EPSILON; }},
        {"kaldi_dither_no_snip", [](P p) { p.input_scale = 32768.0f; p.dither = 2.0f; p.dither_seed = 7; p.center = 0; p.snip_edges = 0; }},
        {"kaldi_dither_center", [](P p) { p.input_scale = 32768.0f; p.dither = 1.0f; p.dither_seed = 9; }},
        {"kaldi_remove_dc", [](P p) { p.remove_dc_offset = 1; p.center = 0; }},
        {"kaldi_preemphasis", [](P p) { p.preemphasis = 0.97f; p.center = 0; }},
        {"kaldi_all_steps", [](P p) { p.input_scale = 32768.0f; p.dither = 1.0f; p.dither_seed = 3; p.remove_dc_offset = 1; p.preemphasis = 0.97f; p.round_to_power_of_two = 1; p.center = 0; p.window = AFX_WINDOW_POVEY; p.window_periodic = 0; p.mel_scale = AFX_MEL_KALDI; p.n_mels = 23; p.f_min = 20; p.log_floor = FLT_EPSILON; }},
        {"kaldi_mfcc_energy_raw", [](P p) { p.feature = AFX_FEATURE_MFCC; p.mfcc_log = AFX_LOG_LN; p.input_scale = 32768.0f; p.remove_dc_offset = 1; p.preemphasis = 0.97f; p.center = 0; p.n_mels = 23; p.n_mfcc = 13; p.cepstral_lifter = 22; p.mfcc_energy = 1; p.raw_energy = 1; }},
        {"kaldi_mfcc_energy_windowed", [](P p) { p.feature = AFX_FEATURE_MFCC; p.mfcc_log = AFX_LOG_LN; p.input_scale = 32768.0f; p.preemphasis = 0.97f; p.center = 0; p.n_mels = 23; p.n_mfcc = 13; p.mfcc_energy = 1; p.raw_energy = 0; }},
        {"kaldi_mfcc_energy_floor", [](P p) { p.feature = AFX_FEATURE_MFCC; p.mfcc_log = AFX_LOG_LN; p.input_scale = 32768.0f; p.dither = 1.0f; p.dither_seed = 5; p.center = 0; p.n_mels = 23; p.n_mfcc = 13; p.mfcc_energy = 1; p.energy_floor = 1e9f; }},
        {"kaldi_dither_s16", [](P p) { p.input_scale = 32768.0f; p.dither = 1.0f; p.dither_seed = 11; p.center = 0; }, S, 1},
        // log_range, out_scale, out_bias
        {"logmel_log10_range8_affine", [](P p) { p.log_base = AFX_LOG_LOG10; p.log_range = 8.0f; p.out_scale = 0.25f; p.out_bias = 1.0f; }},
        {"logmel_ln_range_negative_scale", [](P p) { p.log_range = 10.0f; p.out_scale = -0.5f; p.out_bias = 2.0f; }},
        {"mfcc_ln_range_affine", [](P p) { p.feature = AFX_FEATURE_MFCC; p.mfcc_log = AFX_LOG_LN; p.log_range = 6.0f; p.out_scale = 2.0f; p.out_bias = -1.0f; }},
        {"db_affine", [](P p) { p.feature = AFX_FEATURE_DB; p.out_scale = 0.1f; p.out_bias = 3.0f; }},
        {"mel_affine", [](P p) { p.feature = AFX_FEATURE_MEL; p.out_scale = 3.0f; p.out_bias = 0.5f; }},
        // normalization
        {"mel_utterance_vars", [](P p) { p.feature = AFX_FEATURE_MEL; p.normalize = AFX_NORM_UTTERANCE; }},
        {"spectrogram_feature_vars", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.normalize = AFX_NORM_FEATURE; }},
        {"mfcc_feature_cmvn", [](P p) { p.feature = AFX_FEATURE_MFCC; p.normalize = AFX_NORM_FEATURE; }},
        {"db_minmax", [](P p) { p.feature = AFX_FEATURE_DB; p.normalize = AFX_NORM_MINMAX; }},
        {"logmel_norm_eps", [](P p) { p.normalize = AFX_NORM_UTTERANCE; p.norm_eps = 1e-3f; }},
        // pooling
        {"logmel_pool_mean", [](P p) { p.pooling = AFX_POOL_MEAN; }},
        {"logmel_pool_meanstd", [](P p) { p.pooling = AFX_POOL_MEAN_STD; }},
        {"mel_pool_meanstd", [](P p) { p.feature = AFX_FEATURE_MEL; p.pooling = AFX_POOL_MEAN_STD; }},
        {"mfcc_pool_meanstd_tf", [](P p) { p.feature = AFX_FEATURE_MFCC; p.pooling = AFX_POOL_MEAN_STD; p.layout = AFX_LAYOUT_TF; }},
        {"logmel_norm_then_pool", [](P p) { p.normalize = AFX_NORM_FEATURE; p.pooling = AFX_POOL_MEAN_STD; }},
        // layouts
        {"spectrogram_tf", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.layout = AFX_LAYOUT_TF; }},
        {"logmel_tf", [](P p) { p.layout = AFX_LAYOUT_TF; }},
        {"mfcc_tf", [](P p) { p.feature = AFX_FEATURE_MFCC; p.layout = AFX_LAYOUT_TF; }},
        {"db_tf_norm", [](P p) { p.feature = AFX_FEATURE_DB; p.layout = AFX_LAYOUT_TF; p.normalize = AFX_NORM_UTTERANCE; }},
        // 16-bit output
        {"spectrogram_f16", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.output_dtype = AFX_DTYPE_F16; }},
        {"mel_f16", [](P p) { p.feature = AFX_FEATURE_MEL; p.output_dtype = AFX_DTYPE_F16; }},
        {"mel_bf16_tf", [](P p) { p.feature = AFX_FEATURE_MEL; p.output_dtype = AFX_DTYPE_BF16; p.layout = AFX_LAYOUT_TF; }},
        {"logmel_f16", [](P p) { p.output_dtype = AFX_DTYPE_F16; }},
        {"logmel_bf16", [](P p) { p.output_dtype = AFX_DTYPE_BF16; }},
        {"logmel_f16_tf_norm", [](P p) { p.output_dtype = AFX_DTYPE_F16; p.layout = AFX_LAYOUT_TF; p.normalize = AFX_NORM_UTTERANCE; }},
        {"mfcc_bf16", [](P p) { p.feature = AFX_FEATURE_MFCC; p.output_dtype = AFX_DTYPE_BF16; }},
        {"db_f16_pool_mean", [](P p) { p.feature = AFX_FEATURE_DB; p.output_dtype = AFX_DTYPE_F16; p.pooling = AFX_POOL_MEAN; }},
        // input formats and channels
        {"logmel_s16", [](P p) { (void)p; }, S, 1},
        {"spectrogram_s16", [](P p) { p.feature = AFX_FEATURE_SPECTROGRAM; }, S, 1},
        {"logmel_f32_stereo", [](P p) { (void)p; }, F, 2},
        {"mel_s16_stereo", [](P p) { p.feature = AFX_FEATURE_MEL; }, S, 2},
        {"mfcc_f32_3ch", [](P p) { p.feature = AFX_FEATURE_MFCC; }, F, 3},
        {"logmel_s16_5ch_scaled", [](P p) { p.input_scale = 2.0f; }, S, 5},
    };
    // Every window, periodic and symmetric, through log-mel.
    for (int w = AFX_WINDOW_HANN; w <= AFX_WINDOW_RECTANGULAR; w++)
        for (int periodic = 0; periodic <= 1; periodic++) {
            StageCase c;
            c.name = std::string("window_") + afx_window_name((afx_window)w) + (periodic ? "_periodic" : "_symmetric");
            c.mutate = [w, periodic](afx_params &p) {
                p.window = (afx_window)w;
                p.window_periodic = periodic;
            };
            v.push_back(c);
        }
    // Every normalization, with and without the variance.
    for (int n = AFX_NORM_UTTERANCE; n <= AFX_NORM_MINMAX; n++)
        for (int vars = 0; vars <= 1; vars++) {
            StageCase c;
            c.name = std::string("logmel_norm_") + afx_enum_name(AFX_ENUM_NORMALIZE, n) + (vars ? "_vars" : "_mean_only");
            c.mutate = [n, vars](afx_params &p) {
                p.normalize = (afx_normalize)n;
                p.norm_vars = vars;
            };
            v.push_back(c);
        }
    return v;
}

class CudaStage : public ::testing::TestWithParam<StageCase> {};

TEST_P(CudaStage, MatchesCpu) {
    AFX_REQUIRE_GPU();
    const StageCase &sc = GetParam();
    afx_params p = base_params();
    sc.mutate(p);
    char err[AFX_ERROR_MAX];
    ASSERT_EQ(afx_params_validate(&p, err, sizeof err), AFX_OK) << err;
    const uint64_t seed = std::hash<std::string>()(sc.name) & 0xffff;
    SCOPED_TRACE(testing::Message() << sc.name << " seed " << seed);
    const Batch b = make_batch(stage_lengths(p), seed, p.sample_rate, sc.fmt, sc.channels, 1000 + seed);
    check_config(p, b);
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaStage, ::testing::ValuesIn(stage_cases()),
                         [](const ::testing::TestParamInfo<StageCase> &i) { return i.param.name; });

// Dither is keyed by (seed, global clip index): the GPU must add the same noise as the CPU (checked by
// the kaldi_dither cases above); here, that it adds noise at all and that the seed matters.
TEST(CudaKaldi, DitherChangesOutputAndFollowsSeed) {
    AFX_REQUIRE_GPU();
    afx_params p = base_params();
    p.input_scale = 32768.0f;
    p.center = 0;
    p.feature = AFX_FEATURE_MEL;
    const Batch b = make_batch({8000, 4000}, 31, 16000);
    const Out clean = run(p, gpu_backend(), b);
    p.dither = 1.0f;
    p.dither_seed = 1;
    const Out d1 = run(p, gpu_backend(), b);
    const Out d1b = run(p, gpu_backend(), b);
    p.dither_seed = 2;
    const Out d2 = run(p, gpu_backend(), b);
    ASSERT_EQ(clean.st, AFX_OK) << clean.err;
    ASSERT_EQ(d1.st, AFX_OK) << d1.err;
    EXPECT_NE(clean.v, d1.v) << "dither has no effect on the GPU";
    EXPECT_EQ(d1.v, d1b.v) << "same dither seed, different GPU results";
    EXPECT_NE(d1.v, d2.v) << "dither_seed has no effect on the GPU";
    const Out cpu = run(p, AFX_BACKEND_CPU, b);
    compare(cpu, d2, tolerance_for(p));
}

// ------------------------------------------------------------------------------------------------
// Every preset, every feature it accepts
// ------------------------------------------------------------------------------------------------
struct PresetCase {
    std::string name;
    afx_preset preset;
    afx_feature feature;
    bool dither;           // keep the preset's dither (Kaldi); else dither 0
    afx_sample_format fmt;
};

void PrintTo(const PresetCase &c, std::ostream *os) { *os << c.name; }

std::vector<PresetCase> preset_cases() {
    std::vector<PresetCase> v;
    for (int pr = AFX_PRESET_LIBROSA; pr <= AFX_PRESET_TF; pr++)
        for (int f = AFX_FEATURE_SPECTROGRAM; f <= AFX_FEATURE_MFCC; f++) {
            afx_params p;
            if (afx_params_preset(&p, (afx_preset)pr, (afx_feature)f, nullptr, 0) != AFX_OK) continue;  // not offered
            const std::string base = std::string(afx_enum_name(AFX_ENUM_PRESET, pr)) + "_" + afx_feature_name((afx_feature)f);
            v.push_back({base, (afx_preset)pr, (afx_feature)f, false, AFX_SAMPLE_F32});
            if (pr == AFX_PRESET_KALDI) {
                v.push_back({base + "_dithered", (afx_preset)pr, (afx_feature)f, true, AFX_SAMPLE_F32});
                v.push_back({base + "_dithered_s16", (afx_preset)pr, (afx_feature)f, true, AFX_SAMPLE_S16});
            }
        }
    return v;
}

class CudaPreset : public ::testing::TestWithParam<PresetCase> {};

TEST_P(CudaPreset, MatchesCpu) {
    AFX_REQUIRE_GPU();
    const PresetCase &pc = GetParam();
    afx_params p;
    char err[AFX_ERROR_MAX] = {0};
    ASSERT_EQ(afx_params_preset(&p, pc.preset, pc.feature, err, sizeof err), AFX_OK) << err;
    if (!pc.dither) p.dither = 0.0f;
    else p.dither_seed = 77;
    p.max_batch = 6;
    p.max_samples = 3 * (int64_t)p.sample_rate;
    const int sr = p.sample_rate;
    const uint64_t seed = std::hash<std::string>()(pc.name) & 0xffff;
    SCOPED_TRACE(testing::Message() << pc.name << " seed " << seed);
    const Batch b = make_batch({2 * (int64_t)sr + 13, 0, 100, (int64_t)afx_params_effective_n_fft(&p), sr, sr / 3 + 1},
                               seed, sr, pc.fmt, 1, 50);
    check_config(p, b);
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaPreset, ::testing::ValuesIn(preset_cases()),
                         [](const ::testing::TestParamInfo<PresetCase> &i) { return i.param.name; });

// ------------------------------------------------------------------------------------------------
// Shapes
// ------------------------------------------------------------------------------------------------
TEST(CudaShapes, BatchOfOne) {
    AFX_REQUIRE_GPU();
    for (afx_feature f : {AFX_FEATURE_SPECTROGRAM, AFX_FEATURE_LOGMEL, AFX_FEATURE_MFCC}) {
        SCOPED_TRACE(afx_feature_name(f));
        afx_params p = base_params();
        p.feature = f;
        p.max_batch = 1;
        p.top_db = 60.0f;  // the 1-sample clip's MFCC: see EdgeLengthsEveryFraming
        check_config(p, make_batch({16000}, 5, 16000));
        check_config(p, make_batch({0}, 5, 16000));
        check_config(p, make_batch({1}, 5, 16000), 0);
    }
}

TEST(CudaShapes, LargeRaggedBatch) {
    AFX_REQUIRE_GPU();
    std::mt19937_64 g(2024);
    std::vector<int64_t> lens;
    for (int i = 0; i < 200; i++) lens.push_back(i % 37 == 0 ? 0 : (int64_t)(g() % 24000));
    for (afx_feature f : {AFX_FEATURE_MEL, AFX_FEATURE_LOGMEL, AFX_FEATURE_MFCC}) {
        SCOPED_TRACE(afx_feature_name(f));
        afx_params p = base_params();
        p.feature = f;
        p.max_batch = 200;
        p.max_samples = 24000;
        p.layout = f == AFX_FEATURE_MFCC ? AFX_LAYOUT_TF : AFX_LAYOUT_FT;
        check_config(p, make_batch(lens, 99, 16000, AFX_SAMPLE_F32, 1, 123456));
    }
    afx_params p = base_params();
    p.max_batch = 200;
    p.max_samples = 24000;
    p.output_dtype = AFX_DTYPE_F16;
    check_config(p, make_batch(lens, 98, 16000, AFX_SAMPLE_S16, 1, 7));
}

// Lengths around every framing boundary, in one ragged batch with a long clip (three minutes with the
// default framing, 30 s with the others), for every framing. The degenerate clips (1-3 samples: periodic
// frames under reflection, a few spectral lines) are compared with the log range rule; their MFCC uses
// the dB log with top_db 60, which clamps the window-leakage bins (60-140 dB down, where float32
// rounding of the FFT is a large relative error) to the same floor on both backends.
TEST(CudaShapes, EdgeLengthsEveryFraming) {
    AFX_REQUIRE_GPU();
    struct Framing {
        const char *name;
        int center, snip;
        afx_pad_mode pad;
    };
    const Framing framings[] = {{"center_reflect", 1, 1, AFX_PAD_REFLECT},
                                {"center_constant", 1, 1, AFX_PAD_CONSTANT},
                                {"snip_edges", 0, 1, AFX_PAD_REFLECT},
                                {"no_snip_edges", 0, 0, AFX_PAD_REFLECT}};
    const int64_t minutes3 = 3 * 60 * 16000;
    std::vector<int64_t> lens = {0, 1, 2, 3, 100, 159, 160, 161, 399, 400, 401, 511, 512, 513, 1120, minutes3};
    const Batch long_batch = make_batch(lens, 404, 16000, AFX_SAMPLE_F32, 1, 9);
    lens.back() = 30 * 16000;
    const Batch short_batch = make_batch(lens, 404, 16000, AFX_SAMPLE_F32, 1, 9);
    for (const Framing &fr : framings)
        for (afx_feature f : {AFX_FEATURE_SPECTROGRAM, AFX_FEATURE_MEL, AFX_FEATURE_LOGMEL, AFX_FEATURE_DB, AFX_FEATURE_MFCC}) {
            SCOPED_TRACE(testing::Message() << fr.name << " " << afx_feature_name(f));
            afx_params p = base_params();
            p.feature = f;
            p.center = fr.center;
            p.snip_edges = fr.snip;
            p.pad_mode = fr.pad;
            if (f == AFX_FEATURE_MFCC) p.top_db = 60.0f;
            p.max_batch = (int)lens.size();
            p.max_samples = minutes3;
            check_config(p, &fr == &framings[0] ? long_batch : short_batch, 3);
        }
}

// A clip with a NaN and one with an Inf inside a batch: refused on both backends (n_frames -1, zeros),
// the call returns AFX_ERR_INVALID_INPUT, every other clip is computed and agrees.
TEST(CudaShapes, NonFiniteClipInsideBatch) {
    AFX_REQUIRE_GPU();
    Batch b = make_batch({8000, 5000, 0, 6000, 3000}, 17, 16000);
    b.f32[1][2500] = NAN;
    b.f32[3][0] = INFINITY;
    for (afx_feature f : {AFX_FEATURE_SPECTROGRAM, AFX_FEATURE_LOGMEL, AFX_FEATURE_MFCC})
        for (afx_pooling pool : {AFX_POOL_NONE, AFX_POOL_MEAN_STD}) {
            SCOPED_TRACE(testing::Message() << afx_feature_name(f) << " pooling " << pool);
            afx_params p = base_params();
            p.feature = f;
            p.pooling = pool;
            const Out cpu = run(p, AFX_BACKEND_CPU, b);
            const Out gpu = run(p, gpu_backend(), b);
            EXPECT_EQ(cpu.st, AFX_ERR_INVALID_INPUT);
            EXPECT_EQ(gpu.st, AFX_ERR_INVALID_INPUT) << gpu.err;
            ASSERT_EQ(gpu.nf.size(), 5u);
            EXPECT_EQ(gpu.nf[1], -1);
            EXPECT_EQ(gpu.nf[3], -1);
            EXPECT_NE(lower(gpu.err).find("clip"), std::string::npos) << "message should name the clip: " << gpu.err;
            compare(cpu, gpu, tolerance_for(p));
        }
}

// The non-finite features rule (both backends): a clip whose final features contain NaN or Inf, here from
// finite samples or parameters that overflow float32, is refused like a clip with a NaN sample: n_frames
// -1, its slot all zeros, AFX_ERR_INVALID_INPUT naming the clip and saying the features are not finite;
// the other clips are computed and agree. (The dense cuBLAS mel product turns an Inf bin into NaN for the
// whole frame where the CPU's sparse sum gives Inf in some bands; the rule makes that difference moot.)
void check_nonfinite_refused(const afx_params &p, const Batch &b, int bad) {
    const Out cpu = run(p, AFX_BACKEND_CPU, b);
    const Out gpu = run(p, gpu_backend(), b);
    for (const Out *o : {&cpu, &gpu}) {
        SCOPED_TRACE(o == &cpu ? "CPU backend" : "GPU backend");
        ASSERT_EQ(o->create_st, AFX_OK) << o->err;
        EXPECT_EQ(o->st, AFX_ERR_INVALID_INPUT) << o->err;
        ASSERT_EQ(o->n(), b.n());
        EXPECT_EQ(o->nf[(size_t)bad], -1) << "the clip with non-finite features is not refused";
        const std::string m = lower(o->err);
        EXPECT_NE(m.find("clip " + std::to_string(bad)), std::string::npos) << o->err;
        EXPECT_NE(m.find("finite"), std::string::npos) << "message should say the features are not finite: " << o->err;
        int64_t nonfinite = 0;
        for (float v : o->v) nonfinite += !std::isfinite(v);
        EXPECT_EQ(nonfinite, 0) << "a NaN/Inf value reached the output";
    }
    compare(cpu, gpu, tolerance_for(p));  // statuses, frame counts, zeroed slots, the valid clips
}

TEST(CudaNonFinite, OverflowingClipRefusedOnBothBackends) {
    AFX_REQUIRE_GPU();
    Batch loud = make_batch({4000, 4000, 6000}, 21, 16000);
    for (float &x : loud.f32[1]) x *= 1e30f;  // |X|^2 overflows float32
    for (afx_feature f : {AFX_FEATURE_SPECTROGRAM, AFX_FEATURE_MEL, AFX_FEATURE_MFCC})
        for (afx_pooling pool : {AFX_POOL_NONE, AFX_POOL_MEAN_STD}) {
            SCOPED_TRACE(testing::Message() << afx_feature_name(f) << " pooling " << pool);
            afx_params p = base_params();
            p.feature = f;
            p.pooling = pool;
            if (f == AFX_FEATURE_MFCC) p.mfcc_log = AFX_LOG_LN;  // ln of Inf is Inf: no dB clamp
            check_nonfinite_refused(p, loud, 1);
        }
    // Two overflowing clips: the message names the first; int16 input cannot overflow, float input can.
    Batch two = make_batch({3000, 5000, 2000, 0}, 24, 16000);
    for (float &x : two.f32[2]) x *= 1e25f;
    for (float &x : two.f32[0]) x *= 1e30f;
    afx_params p = base_params();
    check_nonfinite_refused(p, two, 0);
    const Out gpu = run(p, gpu_backend(), two);
    ASSERT_EQ(gpu.n(), 4);
    EXPECT_EQ(gpu.nf[2], -1);
    EXPECT_EQ(gpu.nf[3], 0);
}

// Finite float32 features beyond float16's range (a power spectrogram of samples x 150: |X|^2 far above
// 65504) are refused in float16 output on both backends (afx_fits_dtype), never written as Inf; bfloat16
// holds them and both backends accept the batch.
TEST(CudaNonFinite, BeyondFloat16RefusedOnBothBackends) {
    AFX_REQUIRE_GPU();
    Batch loud = make_batch({4000, 4000, 6000}, 22, 16000);
    for (float &x : loud.f32[1]) x *= 150.0f;
    for (afx_feature f : {AFX_FEATURE_SPECTROGRAM, AFX_FEATURE_MEL})
        for (afx_pooling pool : {AFX_POOL_NONE, AFX_POOL_MEAN_STD})
            for (afx_layout lay : {AFX_LAYOUT_FT, AFX_LAYOUT_TF}) {
                SCOPED_TRACE(testing::Message() << afx_feature_name(f) << " pooling " << pool << " layout " << lay);
                afx_params p = base_params();
                p.feature = f;
                p.pooling = pool;
                p.layout = lay;
                p.output_dtype = AFX_DTYPE_F16;
                check_nonfinite_refused(p, loud, 1);
                p.output_dtype = AFX_DTYPE_BF16;
                const Out cpu = run(p, AFX_BACKEND_CPU, loud), gpu = run(p, gpu_backend(), loud);
                EXPECT_EQ(cpu.st, AFX_OK) << cpu.err;
                EXPECT_EQ(gpu.st, AFX_OK) << gpu.err;
                compare(cpu, gpu, tolerance_for(p));
            }
}

// ------------------------------------------------------------------------------------------------
// SpecAugment masks: the same cells on both backends
// ------------------------------------------------------------------------------------------------
TEST(CudaMasks, SameCellsAsCpu) {
    AFX_REQUIRE_GPU();
    const Batch b = make_batch({16000, 12000, 0, 9000, 16000, 700, 15000, 4000}, 6060, 16000, AFX_SAMPLE_F32, 1, 300);
    for (afx_feature feat : {AFX_FEATURE_LOGMEL, AFX_FEATURE_MEL})
        for (afx_mask_value mv : {AFX_MASK_ZERO, AFX_MASK_MEAN})
            for (afx_layout lay : {AFX_LAYOUT_FT, AFX_LAYOUT_TF}) {
                SCOPED_TRACE(testing::Message() << afx_feature_name(feat) << " mask_value " << mv << " layout " << lay);
                afx_params p = base_params();
                p.feature = feat;
                p.n_mels = 40;
                p.layout = lay;
                const Out clean = run(p, AFX_BACKEND_CPU, b);
                p.n_time_masks = 2;
                p.time_mask_param = 12;
                p.n_freq_masks = 2;
                p.freq_mask_param = 8;
                p.mask_seed = 99;
                p.mask_value = mv;
                const Out cpu = run(p, AFX_BACKEND_CPU, b);
                const Out gpu = run(p, gpu_backend(), b);
                compare(cpu, gpu, tolerance_for(p));
                ASSERT_EQ(clean.nf, cpu.nf);
                int64_t masked_total = 0;
                for (int c = 0; c < b.n(); c++) {
                    SCOPED_TRACE(testing::Message() << "clip " << c);
                    // Masked cells: where the CPU's masked output differs from its unmasked output.
                    std::vector<size_t> masked;
                    for (int64_t t = 0; t < cpu.rows(c); t++)
                        for (int f = 0; f < cpu.cols(); f++)
                            if (cpu.at(c, t, f) != clean.at(c, t, f)) masked.push_back(cpu.index(c, t, f));
                    masked_total += (int64_t)masked.size();
                    if (masked.empty()) continue;
                    // The mask value on each backend (0, or that backend's own clip mean), then the
                    // cells holding exactly that value must be the same cells on both.
                    const float mc = cpu.v[masked[0]], mg = gpu.v[masked[0]];
                    if (mv == AFX_MASK_ZERO) {
                        EXPECT_EQ(mc, 0.0f);
                        EXPECT_EQ(mg, 0.0f);
                    } else {
                        EXPECT_LE(std::fabs((double)mg - mc), 1e-3 + 1e-5 * std::fabs(mc)) << "mask means differ";
                    }
                    int64_t only_cpu = 0, only_gpu = 0;
                    for (int64_t t = 0; t < cpu.rows(c); t++)
                        for (int f = 0; f < cpu.cols(); f++) {
                            const bool in_c = cpu.at(c, t, f) == mc, in_g = gpu.at(c, t, f) == mg;
                            only_cpu += in_c && !in_g;
                            only_gpu += in_g && !in_c;
                        }
                    EXPECT_EQ(only_cpu, 0) << "cells masked on the CPU but not on the GPU";
                    EXPECT_EQ(only_gpu, 0) << "cells masked on the GPU but not on the CPU";
                }
                EXPECT_GT(masked_total, 0) << "no mask drawn: the test checks nothing";
            }
}

// ------------------------------------------------------------------------------------------------
// API on the CUDA backend
// ------------------------------------------------------------------------------------------------
// Batches with their own outputs, for afx_plan_execute_batches.
struct Batches {
    std::vector<Batch> batches;
    std::vector<afx_input> inputs;
    std::vector<Guarded> data;  // output buffers with guard regions
    std::vector<std::vector<int64_t>> nf;
    std::vector<afx_output> outputs;

    std::vector<uint8_t> bytes(size_t i) const {
        return std::vector<uint8_t>(data[i].bytes(), data[i].bytes() + data[i].size());
    }
};

Batches make_batches(afx_plan *plan, const std::vector<std::vector<int64_t>> &shapes, uint64_t seed,
                     afx_sample_format fmt, int channels, int nan_batch = -1) {
    Batches s;
    uint64_t first = 0;
    for (size_t i = 0; i < shapes.size(); i++) {
        s.batches.push_back(make_batch(shapes[i], seed + i, 16000, fmt, channels, first));
        first += shapes[i].size();
    }
    if (nan_batch >= 0) s.batches[(size_t)nan_batch].f32[1][10] = NAN;  // clip 1 of that batch
    const size_t esize = afx_plan_params(plan)->output_dtype == AFX_DTYPE_F32 ? 4 : 2;
    for (const Batch &b : s.batches) {
        afx_input in = b.input();
        int64_t maxf = 0;
        EXPECT_EQ(afx_plan_output_shape(plan, &in, nullptr, &maxf), AFX_OK) << afx_plan_error(plan);
        const int64_t stride = maxf + 1;
        s.inputs.push_back(in);
        s.data.emplace_back(afx_plan_output_size(plan, in.n_clips, stride) * esize, esize);
        s.nf.emplace_back((size_t)in.n_clips, -7);
        afx_output o;
        o.data = nullptr;
        o.frames_stride = stride;
        o.n_frames = nullptr;
        s.outputs.push_back(o);
    }
    for (size_t i = 0; i < s.outputs.size(); i++) {
        s.outputs[i].data = s.data[i].data();
        s.outputs[i].n_frames = s.nf[i].data();
    }
    return s;
}

// afx_plan_execute_batches gives, bit for bit, what afx_plan_execute gives batch by batch on the same
// plan; a NaN clip in the middle batch is refused while everything else completes.
void check_execute_batches(afx_backend be) {
    const std::vector<std::vector<int64_t>> shapes = {
        {16000, 300, 0, 12000, 8000, 16000, 1, 5000}, {4000, 9000, 16000}, {7}, {16000, 0, 2500, 15999, 400, 512}};
    struct Variant {
        const char *name;
        std::function<void(afx_params &)> mutate;
        afx_sample_format fmt;
        int channels;
    };
    const Variant variants[] = {
        {"logmel", [](afx_params &) {}, AFX_SAMPLE_F32, 1},
        {"mfcc_tf_dither_masks_s16_stereo",
         [](afx_params &p) {
             p.feature = AFX_FEATURE_MFCC;
             p.layout = AFX_LAYOUT_TF;
             p.dither = 1e-4f;
             p.dither_seed = 5;
             p.n_time_masks = 1;
             p.time_mask_param = 10;
             p.n_freq_masks = 1;
             p.freq_mask_param = 5;
             p.mask_seed = 6;
         },
         AFX_SAMPLE_S16, 2},
        {"mel_f16", [](afx_params &p) { p.feature = AFX_FEATURE_MEL; p.output_dtype = AFX_DTYPE_F16; }, AFX_SAMPLE_F32, 1},
        {"logmel_pool_meanstd", [](afx_params &p) { p.pooling = AFX_POOL_MEAN_STD; }, AFX_SAMPLE_F32, 1},
    };
    for (const Variant &var : variants)
        for (int nan_batch : {-1, 1}) {
            if (nan_batch >= 0 && var.fmt != AFX_SAMPLE_F32) continue;
            SCOPED_TRACE(testing::Message() << var.name << (nan_batch >= 0 ? " with a NaN clip in batch 1" : ""));
            afx_params p = base_params();
            var.mutate(p);
            p.backend = be;
            ref::PlanPtr plan = ref::make_plan(p);
            ASSERT_TRUE(plan);
            ASSERT_EQ(afx_plan_backend(plan.get()), be);
            Batches all = make_batches(plan.get(), shapes, 4000, var.fmt, var.channels, nan_batch);
            Batches one = make_batches(plan.get(), shapes, 4000, var.fmt, var.channels, nan_batch);
            int n_done = -1;
            const afx_status st = afx_plan_execute_batches(plan.get(), all.inputs.data(), all.outputs.data(),
                                                           (int)shapes.size(), &n_done);
            const std::string msg = afx_plan_error(plan.get());
            EXPECT_EQ(n_done, (int)shapes.size());
            if (nan_batch < 0) {
                EXPECT_EQ(st, AFX_OK) << msg;
            } else {
                EXPECT_EQ(st, AFX_ERR_INVALID_INPUT) << msg;
                EXPECT_GT(msg.size(), 0u);
                EXPECT_EQ(all.nf[(size_t)nan_batch][1], -1);
            }
            for (size_t i = 0; i < shapes.size(); i++) {
                const afx_status s1 = afx_plan_execute(plan.get(), &one.inputs[i], &one.outputs[i]);
                EXPECT_EQ(s1, (int)i == nan_batch ? AFX_ERR_INVALID_INPUT : AFX_OK) << afx_plan_error(plan.get());
                EXPECT_EQ(all.nf[i], one.nf[i]) << "batch " << i << ": frame counts differ";
                EXPECT_TRUE(all.bytes(i) == one.bytes(i)) << "batch " << i << ": execute_batches differs from execute";
                EXPECT_EQ(all.data[i].check(), "") << "batch " << i << ": out-of-bounds write by execute_batches";
                EXPECT_EQ(one.data[i].check(), "") << "batch " << i << ": out-of-bounds write by execute";
            }
        }
    // A batch refused for its shape stops the run with that status.
    afx_params p = base_params();
    p.backend = be;
    ref::PlanPtr plan = ref::make_plan(p);
    ASSERT_TRUE(plan);
    Batches s = make_batches(plan.get(), {{1000}, {2000}}, 1, AFX_SAMPLE_F32, 1);
    std::vector<int64_t> too_long = {p.max_samples + 1};
    s.inputs[1].lengths = too_long.data();
    int n_done = -1;
    EXPECT_EQ(afx_plan_execute_batches(plan.get(), s.inputs.data(), s.outputs.data(), 2, &n_done), AFX_ERR_EXCEEDS_PLAN);
    EXPECT_GE(n_done, 0);
    EXPECT_LE(n_done, 1);
    EXPECT_GT(std::strlen(afx_plan_error(plan.get())), 0u);
    // Zero batches: nothing to do.
    EXPECT_EQ(afx_plan_execute_batches(plan.get(), nullptr, nullptr, 0, &n_done), AFX_OK);
    EXPECT_EQ(n_done, 0);
}

TEST(CudaApi, ExecuteBatchesEqualsExecute) {
    AFX_REQUIRE_GPU();
    check_execute_batches(gpu_backend());
}

TEST(CudaApi, ExecuteBatchesMatchesCpu) {
    AFX_REQUIRE_GPU();
    afx_params p = base_params();
    p.feature = AFX_FEATURE_MFCC;
    ref::PlanPtr cpu_plan = ref::make_plan(p);
    p.backend = gpu_backend();
    ref::PlanPtr gpu_plan = ref::make_plan(p);
    ASSERT_TRUE(cpu_plan && gpu_plan);
    const std::vector<std::vector<int64_t>> shapes = {{16000, 8000}, {12000, 0, 3}, {9999}};
    Batches c = make_batches(cpu_plan.get(), shapes, 77, AFX_SAMPLE_F32, 1);
    Batches g = make_batches(gpu_plan.get(), shapes, 77, AFX_SAMPLE_F32, 1);
    int nd = 0;
    ASSERT_EQ(afx_plan_execute_batches(cpu_plan.get(), c.inputs.data(), c.outputs.data(), 3, &nd), AFX_OK);
    ASSERT_EQ(afx_plan_execute_batches(gpu_plan.get(), g.inputs.data(), g.outputs.data(), 3, &nd), AFX_OK)
        << afx_plan_error(gpu_plan.get());
    for (size_t i = 0; i < shapes.size(); i++) {
        EXPECT_EQ(c.nf[i], g.nf[i]);
        EXPECT_EQ(g.data[i].check(), "") << "batch " << i;
        const size_t n = c.data[i].size() / 4;
        std::vector<float> a(n), b(n);
        std::memcpy(a.data(), c.data[i].bytes(), n * 4);
        std::memcpy(b.data(), g.data[i].bytes(), n * 4);
        double num = 0, den = 0;
        for (size_t k = 0; k < n; k++) {
            num += ((double)b[k] - a[k]) * ((double)b[k] - a[k]);
            den += (double)a[k] * a[k];
        }
        EXPECT_LE(std::sqrt(num / std::max(den, 1e-30)), 1e-5) << "batch " << i;
    }
}

TEST(CudaApi, AutoAndDeviceOrdinal) {
    AFX_REQUIRE_REAL_GPU();
    afx_params p = base_params();
    p.backend = AFX_BACKEND_AUTO;
    ref::PlanPtr a = ref::make_plan(p);
    ASSERT_TRUE(a);
    EXPECT_EQ(afx_plan_backend(a.get()), AFX_BACKEND_CUDA) << "AUTO with a device present should run on CUDA";
    const int count = afx_cuda_device_count();
    p.cuda_device = count;  // one past the last device
    p.backend = AFX_BACKEND_CUDA;
    afx_plan *plan = reinterpret_cast<afx_plan *>(0x1);
    char err[AFX_ERROR_MAX] = {0};
    EXPECT_EQ(afx_plan_create(&p, &plan, err, sizeof err), AFX_ERR_BACKEND_UNAVAILABLE);
    EXPECT_EQ(plan, nullptr);
    EXPECT_NE(lower(err).find("device"), std::string::npos) << err;
    p.backend = AFX_BACKEND_AUTO;
    ref::PlanPtr c = ref::make_plan(p);
    ASSERT_TRUE(c);
    EXPECT_EQ(afx_plan_backend(c.get()), AFX_BACKEND_CPU) << "AUTO with a missing device ordinal falls back to CPU";
}

TEST(CudaApi, WorkspaceSize) {
    AFX_REQUIRE_REAL_GPU();
    afx_params p = base_params();
    p.backend = AFX_BACKEND_CUDA;
    p.max_batch = 4;
    p.max_samples = 16000;
    ref::PlanPtr small = ref::make_plan(p);
    p.max_batch = 64;
    ref::PlanPtr big = ref::make_plan(p);
    ASSERT_TRUE(small && big);
    size_t d1 = 0, h1 = 0, d2 = 0, h2 = 0;
    ASSERT_EQ(afx_plan_workspace_size(small.get(), &d1, &h1), AFX_OK) << afx_plan_error(small.get());
    ASSERT_EQ(afx_plan_workspace_size(big.get(), &d2, &h2), AFX_OK);
    EXPECT_GT(d1, 0u);
    EXPECT_GT(d2, d1) << "device workspace does not grow with max_batch";
    EXPECT_GE(h2, h1);
    // Four clips of one second: at least their samples and their output must fit on the device.
    EXPECT_GE(d1, (size_t)4 * 16000 * sizeof(float));
}

TEST(CudaApi, AbsurdPlanRefusedThenSmallerPlanWorks) {
    AFX_REQUIRE_REAL_GPU();
    for (int64_t samples : {(int64_t)1 << 40, (int64_t)1 << 30}) {
        afx_params p = base_params();
        p.backend = AFX_BACKEND_CUDA;
        p.max_batch = 65536;
        p.max_samples = samples;
        afx_plan *plan = reinterpret_cast<afx_plan *>(0x1);
        char err[AFX_ERROR_MAX] = {0};
        const afx_status st = afx_plan_create(&p, &plan, err, sizeof err);
        EXPECT_EQ(st, AFX_ERR_OUT_OF_MEMORY) << afx_status_name(st) << ": " << err;
        EXPECT_EQ(plan, nullptr);
        EXPECT_GT(std::strlen(err), 0u) << "no message for a refused plan";
        if (plan && plan != reinterpret_cast<afx_plan *>(0x1)) afx_plan_free(plan);
    }
    afx_params p = base_params();
    p.feature = AFX_FEATURE_MFCC;
    check_config(p, make_batch({16000, 800}, 3, 16000));
}

#ifdef AFX_TEST_HAVE_CUDA
std::string cuda_msg(cudaError_t e) { return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e); }

// Runs afx_plan_execute_device (or, with `dev_in`, afx_plan_execute_device_input on those clips), waits
// for ready_event, takes the verdicts with afx_plan_device_output_wait and copies the features back.
struct DeviceRun {
    afx_status st = AFX_ERR_INTERNAL;       // of the execute call (queued)
    afx_status wait_st = AFX_ERR_INTERNAL;  // of afx_plan_device_output_wait (refused clips)
    std::string wait_err;
    afx_device_output d;
    std::vector<int64_t> nf;
    std::vector<uint8_t> bytes;
};

DeviceRun execute_device(afx_plan *plan, const Batch &b, const std::vector<const void *> *dev_in = nullptr) {
    DeviceRun r;
    std::memset(&r.d, 0, sizeof r.d);
    r.nf.assign((size_t)b.n(), -7);
    r.d.n_frames = r.nf.data();
    afx_input in = b.input();
    if (dev_in) in.clips = dev_in->data();
    r.st = dev_in ? afx_plan_execute_device_input(plan, &in, &r.d) : afx_plan_execute_device(plan, &in, &r.d);
    if (r.st != AFX_OK) return r;
    EXPECT_NE(r.d.ready_event, nullptr);
    if (r.d.ready_event) {
        const cudaError_t e = cudaEventSynchronize((cudaEvent_t)r.d.ready_event);
        EXPECT_EQ(e, cudaSuccess) << cuda_msg(e);
    }
    r.wait_st = afx_plan_device_output_wait(plan, &r.d);
    r.wait_err = afx_plan_error(plan);
    const size_t esize = r.d.dtype == AFX_DTYPE_F32 ? 4 : 2;
    const size_t n = (size_t)r.d.n_clips * (size_t)r.d.n_features * (size_t)r.d.frames_stride;
    r.bytes.resize(n * esize);
    if (n) {
        EXPECT_NE(r.d.data, nullptr);
        const cudaError_t e = cudaMemcpy(r.bytes.data(), r.d.data, n * esize, cudaMemcpyDeviceToHost);
        EXPECT_EQ(e, cudaSuccess) << cuda_msg(e);
    }
    return r;
}

// Host execution of the same batch with the device output's stride, as raw bytes.
std::vector<uint8_t> host_bytes(afx_plan *plan, const Batch &b, int64_t stride, std::vector<int64_t> *nf,
                                afx_status *st) {
    const size_t esize = afx_plan_params(plan)->output_dtype == AFX_DTYPE_F32 ? 4 : 2;
    std::vector<uint8_t> bytes(afx_plan_output_size(plan, b.n(), stride) * esize + 1, 0xEE);
    nf->assign((size_t)b.n(), -7);
    afx_input in = b.input();
    afx_output o;
    o.data = bytes.data();
    o.frames_stride = stride;
    o.n_frames = nf->data();
    *st = afx_plan_execute(plan, &in, &o);
    bytes.pop_back();
    return bytes;
}
#endif

// afx_plan_execute_device then cudaMemcpy back equals afx_plan_execute's host output, bit for bit,
// for both layouts, 16-bit output, pooling and a refused clip; the descriptor is filled as documented.
TEST(CudaApi, ExecuteDeviceEqualsHost) {
    AFX_REQUIRE_REAL_GPU();
#ifdef AFX_TEST_HAVE_CUDA
    struct Variant {
        const char *name;
        std::function<void(afx_params &)> mutate;
    };
    const Variant variants[] = {
        {"logmel_ft", [](afx_params &) {}},
        {"mfcc_tf", [](afx_params &p) { p.feature = AFX_FEATURE_MFCC; p.layout = AFX_LAYOUT_TF; }},
        {"spectrogram_f16", [](afx_params &p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.output_dtype = AFX_DTYPE_F16; }},
        {"logmel_bf16_tf", [](afx_params &p) { p.output_dtype = AFX_DTYPE_BF16; p.layout = AFX_LAYOUT_TF; }},
        {"logmel_pool_meanstd", [](afx_params &p) { p.pooling = AFX_POOL_MEAN_STD; }},
        {"mel_masks_dither", [](afx_params &p) { p.feature = AFX_FEATURE_MEL; p.n_time_masks = 2; p.time_mask_param = 8; p.mask_seed = 4; p.dither = 1e-4f; }},
    };
    for (const Variant &var : variants)
        for (bool with_nan : {false, true}) {
            SCOPED_TRACE(testing::Message() << var.name << (with_nan ? " with a NaN clip" : ""));
            afx_params p = base_params();
            var.mutate(p);
            p.backend = AFX_BACKEND_CUDA;
            ref::PlanPtr plan = ref::make_plan(p);
            ASSERT_TRUE(plan);
            Batch b = make_batch({16000, 0, 7000, 300, 12345}, 808, 16000, AFX_SAMPLE_F32, 1, 60);
            if (with_nan) b.f32[2][100] = NAN;
            DeviceRun d = execute_device(plan.get(), b);
            ASSERT_EQ(d.st, AFX_OK) << afx_plan_error(plan.get());
            EXPECT_EQ(d.wait_st, with_nan ? AFX_ERR_INVALID_INPUT : AFX_OK) << d.wait_err;
            if (with_nan) {
                EXPECT_NE(d.wait_err.find("clip 2"), std::string::npos) << d.wait_err;
            }
            const int pooled = p.pooling == AFX_POOL_NONE ? 0 : p.pooling == AFX_POOL_MEAN ? 1 : 2;
            EXPECT_EQ(d.d.dtype, p.output_dtype);
            EXPECT_EQ(d.d.n_clips, b.n());
            EXPECT_EQ(d.d.n_features, pooled ? pooled * afx_plan_n_features(plan.get()) : afx_plan_n_features(plan.get()));
            int64_t maxf = 0;
            for (size_t i = 0; i < (size_t)b.n(); i++) {
                const int64_t want = with_nan && i == 2 ? -1 : afx_plan_frames_for_length(plan.get(), b.lengths[i]);
                EXPECT_EQ(d.nf[i], want) << "clip " << i;
                maxf = std::max(maxf, afx_plan_frames_for_length(plan.get(), b.lengths[i]));
            }
            EXPECT_EQ(d.d.frames_stride, pooled ? 1 : maxf);
            std::vector<int64_t> nf;
            afx_status hs;
            const std::vector<uint8_t> h = host_bytes(plan.get(), b, pooled ? 1 : d.d.frames_stride, &nf, &hs);
            EXPECT_EQ(hs, d.wait_st);
            EXPECT_EQ(nf, d.nf);
            ASSERT_EQ(h.size(), d.bytes.size());
            EXPECT_TRUE(h == d.bytes) << "device output differs from host output";
        }
#endif
}

#ifdef AFX_TEST_HAVE_CUDA
// Blocks a stream until released (or a timeout, so that a wrong implementation cannot hang the test).
struct Gate {
    std::atomic<int> open{0};
    std::atomic<int> timed_out{0};
};

void CUDART_CB gate_fn(void *arg) {
    Gate *g = static_cast<Gate *>(arg);
    const auto t0 = std::chrono::steady_clock::now();
    while (!g->open.load()) {
        if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(5)) {
            g->timed_out = 1;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}
#endif

// afx_plan_set_stream: the plan's work goes on the caller's stream, after the work already queued
// there, and execute_device does not wait for it; results are the same as on the plan's own stream.
TEST(CudaApi, UserStream) {
    AFX_REQUIRE_REAL_GPU();
#ifdef AFX_TEST_HAVE_CUDA
    afx_params p = base_params();
    p.backend = AFX_BACKEND_CUDA;
    ref::PlanPtr plan = ref::make_plan(p);
    ASSERT_TRUE(plan);
    const Batch b = make_batch({16000, 5000, 0, 12000}, 909, 16000);
    const Out own = run_on(plan.get(), b);  // the plan's own stream
    ASSERT_EQ(own.st, AFX_OK) << own.err;

    cudaStream_t s = nullptr;
    ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
    ASSERT_EQ(afx_plan_set_stream(plan.get(), s), AFX_OK) << afx_plan_error(plan.get());

    Gate gate;
    ASSERT_EQ(cudaLaunchHostFunc(s, gate_fn, &gate), cudaSuccess);
    afx_device_output d;
    std::memset(&d, 0, sizeof d);
    std::vector<int64_t> nf((size_t)b.n(), -7);
    d.n_frames = nf.data();
    afx_input in = b.input();
    const auto t0 = std::chrono::steady_clock::now();
    const afx_status st = afx_plan_execute_device(plan.get(), &in, &d);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const cudaError_t q = d.ready_event ? cudaEventQuery((cudaEvent_t)d.ready_event) : cudaErrorInvalidValue;
    gate.open = 1;
    ASSERT_EQ(st, AFX_OK) << afx_plan_error(plan.get());
    EXPECT_EQ(q, cudaErrorNotReady) << "ready_event completed while the user stream was still blocked: the plan's "
                                       "work is not queued on the user stream ("
                                    << cuda_msg(q) << ")";
    EXPECT_EQ(gate.timed_out.load(), 0) << "execute_device waited " << secs
                                        << " s for the user stream's earlier work (it should only queue)";
    ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
    std::vector<uint8_t> bytes((size_t)b.n() * (size_t)d.n_features * (size_t)d.frames_stride * 4);
    ASSERT_EQ(cudaMemcpy(bytes.data(), d.data, bytes.size(), cudaMemcpyDeviceToHost), cudaSuccess);
    std::vector<float> dv(bytes.size() / 4);
    std::memcpy(dv.data(), bytes.data(), bytes.size());
    int64_t diff = 0;
    for (int c = 0; c < b.n(); c++)
        for (int64_t t = 0; t < own.rows(c); t++)
            for (int f = 0; f < own.nfeat; f++) {
                const size_t di = (size_t)c * (size_t)own.nfeat * (size_t)d.frames_stride + (size_t)f * (size_t)d.frames_stride + (size_t)t;
                diff += dv[di] != own.at(c, t, f);
            }
    EXPECT_EQ(diff, 0) << "user-stream device output differs from the plan's own stream";

    // Host execution and batches on the user stream.
    const Out on_user = run_on(plan.get(), b);
    EXPECT_EQ(on_user.st, AFX_OK) << on_user.err;
    EXPECT_EQ(on_user.v, own.v);
    // Back to the plan's own stream, then the user stream can go.
    ASSERT_EQ(afx_plan_set_stream(plan.get(), nullptr), AFX_OK);
    EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
    const Out back = run_on(plan.get(), b);
    EXPECT_EQ(back.v, own.v);
#endif
}

// Freeing a plan gives its device memory back (after a warm-up plan has loaded the libraries).
TEST(CudaApi, PlanFreeReleasesDeviceMemory) {
    AFX_REQUIRE_REAL_GPU();
#ifdef AFX_TEST_HAVE_CUDA
    afx_params p = base_params();
    p.backend = AFX_BACKEND_CUDA;
    p.feature = AFX_FEATURE_MFCC;
    p.max_batch = 64;
    p.max_samples = 160000;
    const Batch b = make_batch({16000, 8000}, 1, 16000);
    {
        ref::PlanPtr warm = ref::make_plan(p);
        ASSERT_TRUE(warm);
        EXPECT_EQ(run_on(warm.get(), b).st, AFX_OK);
    }
    size_t free0 = 0, total = 0, free1 = 0;
    ASSERT_EQ(cudaMemGetInfo(&free0, &total), cudaSuccess);
    for (int i = 0; i < 3; i++) {
        ref::PlanPtr pl = ref::make_plan(p);
        ASSERT_TRUE(pl);
        EXPECT_EQ(run_on(pl.get(), b).st, AFX_OK);
    }
    ASSERT_EQ(cudaMemGetInfo(&free1, &total), cudaSuccess);
    EXPECT_LE((double)free0 - (double)free1, 8.0 * 1024 * 1024) << "device memory not returned by afx_plan_free";
#endif
}

// ------------------------------------------------------------------------------------------------
// Agreed contracts: fixed_length, norm_unbiased (tests/test_fixed_length.cpp, kernels/norm/norm.h)
// ------------------------------------------------------------------------------------------------
// fixed_length: shorter clips padded with zeros, longer ones cut, an empty clip gets the fixed frames; every
// framing, int16 and stereo input, TF layout and pooling; the same values as the CPU.
TEST(CudaContracts, FixedLengthMatchesCpu) {
    AFX_REQUIRE_GPU();
    struct V {
        const char *name;
        std::function<void(afx_params &)> mutate;
        afx_sample_format fmt;
        int channels;
    };
    const V variants[] = {
        {"logmel_center", [](afx_params &) {}, AFX_SAMPLE_F32, 1},
        {"spectrogram_snip", [](afx_params &p) { p.feature = AFX_FEATURE_SPECTROGRAM; p.center = 0; }, AFX_SAMPLE_F32, 1},
        {"mel_nosnip", [](afx_params &p) { p.feature = AFX_FEATURE_MEL; p.center = 0; p.snip_edges = 0; }, AFX_SAMPLE_F32, 1},
        {"mfcc_tf_s16_stereo", [](afx_params &p) { p.feature = AFX_FEATURE_MFCC; p.layout = AFX_LAYOUT_TF; }, AFX_SAMPLE_S16, 2},
        {"db_pool_3ch", [](afx_params &p) { p.feature = AFX_FEATURE_DB; p.pooling = AFX_POOL_MEAN_STD; }, AFX_SAMPLE_F32, 3},
        {"logmel_norm_reflect_short", [](afx_params &p) { p.normalize = AFX_NORM_UTTERANCE; }, AFX_SAMPLE_F32, 2},
    };
    for (const V &v : variants) {
        SCOPED_TRACE(v.name);
        afx_params p = base_params();
        v.mutate(p);
        p.fixed_length = 16000;
        p.max_samples = 16000;  // longer clips are accepted and cut
        const Batch b = make_batch({7001, 40000, 0, 16000, 3, 16001}, 31, 16000, v.fmt, v.channels, 5);
        const Out cpu = run(p, AFX_BACKEND_CPU, b);
        ASSERT_EQ(cpu.st, AFX_OK) << cpu.err;
        for (int c = 0; c < b.n(); c++) EXPECT_EQ(cpu.nf[(size_t)c], cpu.nf[0]) << "fixed frames for every clip";
        check_config(p, b);
    }
}

// The NaN scan covers the samples used: a NaN past the cut is ignored, one before it refuses the clip.
TEST(CudaContracts, FixedLengthScansOnlyUsedSamples) {
    AFX_REQUIRE_GPU();
    afx_params p = base_params();
    p.fixed_length = 8000;
    p.max_samples = 8000;
    Batch b = make_batch({12000, 12000, 5000}, 33, 16000);
    b.f32[0][9000] = NAN;  // cut away
    b.f32[1][100] = NAN;   // used: refused
    const Out cpu = run(p, AFX_BACKEND_CPU, b);
    const Out gpu = run(p, gpu_backend(), b);
    EXPECT_EQ(gpu.st, AFX_ERR_INVALID_INPUT) << gpu.err;
    ASSERT_EQ(gpu.n(), 3);
    EXPECT_EQ(gpu.nf[0], 1 + 8000 / p.hop_length);
    EXPECT_EQ(gpu.nf[1], -1);
    EXPECT_NE(gpu.err.find("clip 1"), std::string::npos) << gpu.err;
    EXPECT_NE(gpu.err.find("sample 100"), std::string::npos) << gpu.err;
    compare(cpu, gpu, tolerance_for(p));
}

// norm_unbiased: n - 1 variance (afx_norm_variance) for utterance and per-feature normalization; pooling's
// std stays the population std. The flag must change the output, and the GPU must follow the CPU.
TEST(CudaContracts, NormUnbiasedMatchesCpu) {
    AFX_REQUIRE_GPU();
    const Batch b = make_batch({16000, 300, 0, 5000, 161}, 35, 16000, AFX_SAMPLE_F32, 1, 9);
    for (afx_normalize n : {AFX_NORM_UTTERANCE, AFX_NORM_FEATURE})
        for (afx_pooling pool : {AFX_POOL_NONE, AFX_POOL_MEAN_STD}) {
            SCOPED_TRACE(testing::Message() << afx_enum_name(AFX_ENUM_NORMALIZE, n) << " pooling " << pool);
            afx_params p = base_params();
            p.normalize = n;
            p.pooling = pool;
            p.norm_unbiased = 1;
            check_config(p, b);
            const Out unbiased = run(p, gpu_backend(), b);
            p.norm_unbiased = 0;
            const Out biased = run(p, gpu_backend(), b);
            ASSERT_EQ(unbiased.st, AFX_OK) << unbiased.err;
            EXPECT_NE(unbiased.v, biased.v) << "norm_unbiased has no effect on the GPU";
        }
}

// ------------------------------------------------------------------------------------------------
// FFT batches: a partial chunk runs as a sum of the plans' batch sizes
// ------------------------------------------------------------------------------------------------
// With max_batch 4 x 10 s (n_fft 512, hop 160) the chunk is 4 x 1001 = 4004 frames and the plans run 4004,
// 500, 62 and 7 transforms; single clips of r frames around each size, and a full batch of 4003 frames
// (8 x 500 and a last 7 past the end), must give the CPU's values (each sub-transform writes its own frames,
// none is left out or doubled). Batches longer than a chunk: CudaShapes.EdgeLengthsEveryFraming.
TEST(CudaFft, EveryRemainderOfTheChunk) {
    AFX_REQUIRE_GPU();
    for (afx_feature f : {AFX_FEATURE_SPECTROGRAM, AFX_FEATURE_LOGMEL}) {
        SCOPED_TRACE(afx_feature_name(f));
        afx_params p = base_params();
        p.feature = f;
        p.max_batch = 4;
        p.max_samples = 160000;
        ref::PlanPtr cpu_plan = ref::make_plan(p);
        p.backend = gpu_backend();
        ref::PlanPtr gpu_plan = ref::make_plan(p);
        ASSERT_TRUE(cpu_plan && gpu_plan);
        for (int64_t r : {1, 6, 7, 8, 61, 62, 63, 69, 499, 500, 501, 569, 1000}) {
            SCOPED_TRACE(testing::Message() << r << " frames");
            const Batch b = make_batch({(r - 1) * 160 + 1}, (uint64_t)r, 16000);  // 1 + n / hop = r frames
            compare(run_on(cpu_plan.get(), b), run_on(gpu_plan.get(), b), tolerance_for(p));
        }
        const Batch full = make_batch({160000, 160000, 160000, 160000 - 1}, 77, 16000);
        compare(run_on(cpu_plan.get(), full), run_on(gpu_plan.get(), full), tolerance_for(p));
    }
}

#ifdef AFX_TEST_HAVE_CUDA
// The clips of a batch copied into device memory (cudaMalloc), as a training job would hold them.
struct DeviceClips {
    std::vector<void *> mem;
    std::vector<const void *> ptrs;
    explicit DeviceClips(const Batch &b) {
        for (int i = 0; i < b.n(); i++) {
            const size_t n = (size_t)(b.lengths[(size_t)i] * b.channels);
            void *d = nullptr;
            if (n) {
                const size_t bytes = n * (b.fmt == AFX_SAMPLE_F32 ? 4 : 2);
                EXPECT_EQ(cudaMalloc(&d, bytes), cudaSuccess);
                const void *src = b.fmt == AFX_SAMPLE_F32 ? (const void *)b.f32[(size_t)i].data()
                                                          : (const void *)b.s16[(size_t)i].data();
                EXPECT_EQ(cudaMemcpy(d, src, bytes, cudaMemcpyHostToDevice), cudaSuccess);
            }
            mem.push_back(d);
            ptrs.push_back(d);
        }
    }
    ~DeviceClips() {
        for (void *d : mem)
            if (d) cudaFree(d);
    }
};

#endif

// afx_plan_execute_device_input: clips already on the device give the host path's output (bit for bit: the
// same kernels on the same samples), for float and int16, stereo, fixed_length, pooling, an empty clip with
// a NULL pointer, and a NaN clip refused through afx_plan_device_output_wait with its slot zeroed.
TEST(CudaDeviceInput, EqualsHostInput) {
    AFX_REQUIRE_REAL_GPU();
#ifdef AFX_TEST_HAVE_CUDA
    struct V {
        const char *name;
        std::function<void(afx_params &)> mutate;
        afx_sample_format fmt;
        int channels;
    };
    const V variants[] = {
        {"logmel_f32", [](afx_params &) {}, AFX_SAMPLE_F32, 1},
        {"mfcc_tf_s16_stereo", [](afx_params &p) { p.feature = AFX_FEATURE_MFCC; p.layout = AFX_LAYOUT_TF; }, AFX_SAMPLE_S16, 2},
        {"mel_f32_3ch_fixed", [](afx_params &p) { p.feature = AFX_FEATURE_MEL; p.fixed_length = 8000; }, AFX_SAMPLE_F32, 3},
        {"logmel_pool_f16", [](afx_params &p) { p.pooling = AFX_POOL_MEAN_STD; p.output_dtype = AFX_DTYPE_F16; }, AFX_SAMPLE_F32, 1},
    };
    for (const V &v : variants)
        for (bool with_nan : {false, true}) {
            if (with_nan && v.fmt != AFX_SAMPLE_F32) continue;
            SCOPED_TRACE(testing::Message() << v.name << (with_nan ? " with a NaN clip" : ""));
            afx_params p = base_params();
            v.mutate(p);
            p.backend = AFX_BACKEND_CUDA;
            ref::PlanPtr plan = ref::make_plan(p);
            ASSERT_TRUE(plan);
            Batch b = make_batch({16000, 0, 7000, 300, 12345}, 818, 16000, v.fmt, v.channels, 40);
            const int nan_channel = v.channels > 1 ? 1 : 0;
            if (with_nan) b.f32[3][(size_t)(2 * v.channels + nan_channel)] = NAN;  // sample 2
            DeviceClips dc(b);
            EXPECT_EQ(dc.ptrs[1], nullptr);
            const DeviceRun host_in = execute_device(plan.get(), b);
            const DeviceRun dev_in = execute_device(plan.get(), b, &dc.ptrs);
            ASSERT_EQ(dev_in.st, AFX_OK) << afx_plan_error(plan.get());
            EXPECT_EQ(dev_in.wait_st, with_nan ? AFX_ERR_INVALID_INPUT : AFX_OK) << dev_in.wait_err;
            EXPECT_EQ(dev_in.wait_st, host_in.wait_st);
            EXPECT_EQ(dev_in.wait_err, host_in.wait_err);
            EXPECT_EQ(dev_in.nf, host_in.nf);
            if (with_nan) {
                EXPECT_EQ(dev_in.nf[3], -1);
                const std::string want = "clip 3 (global index 43): sample 2 (channel " + std::to_string(nan_channel) + ") is NaN";
                EXPECT_NE(dev_in.wait_err.find(want), std::string::npos) << dev_in.wait_err;
            }
            EXPECT_EQ(dev_in.d.frames_stride, host_in.d.frames_stride);
            EXPECT_TRUE(dev_in.bytes == host_in.bytes) << "device input and host input give different features";
            // And the host execute (CPU-checked elsewhere) agrees too, including the zeroed NaN slot.
            std::vector<int64_t> nf;
            afx_status hs;
            const int pooled = p.pooling == AFX_POOL_NONE ? 0 : 1;
            const std::vector<uint8_t> h = host_bytes(plan.get(), b, pooled ? 1 : dev_in.d.frames_stride, &nf, &hs);
            EXPECT_EQ(hs, dev_in.wait_st);
            EXPECT_EQ(nf, dev_in.nf);
            EXPECT_TRUE(h == dev_in.bytes) << "device input differs from afx_plan_execute";
        }
#endif
}

// A host pointer (or one on no device) given to afx_plan_execute_device_input is refused before anything
// runs, naming the clip; the plan keeps working.
TEST(CudaDeviceInput, RefusesHostPointers) {
    AFX_REQUIRE_REAL_GPU();
#ifdef AFX_TEST_HAVE_CUDA
    afx_params p = base_params();
    p.backend = AFX_BACKEND_CUDA;
    ref::PlanPtr plan = ref::make_plan(p);
    ASSERT_TRUE(plan);
    const Batch b = make_batch({4000, 3000}, 5, 16000);
    DeviceClips dc(b);
    std::vector<const void *> mixed = dc.ptrs;
    mixed[1] = b.f32[1].data();  // host memory
    DeviceRun r = execute_device(plan.get(), b, &mixed);
    EXPECT_EQ(r.st, AFX_ERR_INVALID_INPUT);
    const std::string m = afx_plan_error(plan.get());
    EXPECT_NE(m.find("clip 1"), std::string::npos) << m;
    EXPECT_NE(m.find("device"), std::string::npos) << m;
    const DeviceRun ok = execute_device(plan.get(), b, &dc.ptrs);
    EXPECT_EQ(ok.st, AFX_OK) << afx_plan_error(plan.get());
    EXPECT_EQ(ok.wait_st, AFX_OK) << ok.wait_err;
#endif
}

// Stream order, no host wait: the samples are written by a copy queued on the user stream behind a blocked
// host function; afx_plan_execute_device_input returns at once, and once the stream runs the features are
// those of the samples the copy wrote (not of what the buffer held before).
TEST(CudaDeviceInput, ReadsInStreamOrderWithoutHostWait) {
    AFX_REQUIRE_REAL_GPU();
#ifdef AFX_TEST_HAVE_CUDA
    afx_params p = base_params();
    p.backend = AFX_BACKEND_CUDA;
    ref::PlanPtr plan = ref::make_plan(p);
    ASSERT_TRUE(plan);
    const Batch b = make_batch({16000, 9000}, 71, 16000);
    const Out want = run_on(plan.get(), b);
    ASSERT_EQ(want.st, AFX_OK) << want.err;
    DeviceClips dc(b);
    ASSERT_EQ(cudaMemset(dc.mem[0], 0, b.f32[0].size() * 4), cudaSuccess);  // stale until the stream's copy runs
    float *pinned = nullptr;
    ASSERT_EQ(cudaMallocHost((void **)&pinned, b.f32[0].size() * 4), cudaSuccess);
    std::memcpy(pinned, b.f32[0].data(), b.f32[0].size() * 4);
    cudaStream_t s = nullptr;
    ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
    ASSERT_EQ(afx_plan_set_stream(plan.get(), s), AFX_OK) << afx_plan_error(plan.get());
    Gate gate;
    ASSERT_EQ(cudaLaunchHostFunc(s, gate_fn, &gate), cudaSuccess);
    ASSERT_EQ(cudaMemcpyAsync(dc.mem[0], pinned, b.f32[0].size() * 4, cudaMemcpyHostToDevice, s), cudaSuccess);
    afx_device_output d;
    std::memset(&d, 0, sizeof d);
    std::vector<int64_t> nf((size_t)b.n(), -7);
    d.n_frames = nf.data();
    afx_input in = b.input();
    in.clips = dc.ptrs.data();
    const afx_status st = afx_plan_execute_device_input(plan.get(), &in, &d);
    const cudaError_t q = cudaEventQuery((cudaEvent_t)d.ready_event);
    gate.open = 1;
    ASSERT_EQ(st, AFX_OK) << afx_plan_error(plan.get());
    EXPECT_EQ(q, cudaErrorNotReady) << "the features were ready before the stream's earlier work ran";
    EXPECT_EQ(gate.timed_out.load(), 0) << "afx_plan_execute_device_input waited for the stream on the host";
    EXPECT_EQ(afx_plan_device_output_wait(plan.get(), &d), AFX_OK) << afx_plan_error(plan.get());
    std::vector<float> got((size_t)b.n() * (size_t)d.n_features * (size_t)d.frames_stride);
    ASSERT_EQ(cudaMemcpy(got.data(), d.data, got.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
    int64_t diff = 0;
    for (int c = 0; c < b.n(); c++)
        for (int64_t t = 0; t < want.rows(c); t++)
            for (int f = 0; f < want.nfeat; f++)
                diff += got[((size_t)c * (size_t)want.nfeat + (size_t)f) * (size_t)d.frames_stride + (size_t)t] !=
                        want.at(c, t, f);
    EXPECT_EQ(diff, 0) << "device input read before the stream's copy wrote it";
    ASSERT_EQ(afx_plan_set_stream(plan.get(), nullptr), AFX_OK);
    EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
    cudaFreeHost(pinned);
#endif
}

// The release rule: reads of the device output queued on another stream, behind a blocked host function,
// are protected by afx_plan_release_device_output: the next execute (other clips) does not overwrite the
// output before they run, and returns without waiting for them on the host.
TEST(CudaApi, ReleaseEventProtectsReadsFromTheNextExecute) {
    AFX_REQUIRE_REAL_GPU();
#ifdef AFX_TEST_HAVE_CUDA
    afx_params p = base_params();
    p.backend = AFX_BACKEND_CUDA;
    ref::PlanPtr plan = ref::make_plan(p);
    ASSERT_TRUE(plan);
    const Batch a = make_batch({16000, 12000}, 91, 16000), b2 = make_batch({16000, 12000}, 92, 16000);
    const Out want = run_on(plan.get(), a);
    ASSERT_EQ(want.st, AFX_OK) << want.err;
    cudaStream_t reader = nullptr;
    cudaEvent_t done_reading = nullptr;
    ASSERT_EQ(cudaStreamCreateWithFlags(&reader, cudaStreamNonBlocking), cudaSuccess);
    ASSERT_EQ(cudaEventCreateWithFlags(&done_reading, cudaEventDisableTiming), cudaSuccess);
    afx_device_output d;
    std::memset(&d, 0, sizeof d);
    std::vector<int64_t> nf(2, -7);
    d.n_frames = nf.data();
    afx_input in = a.input();
    ASSERT_EQ(afx_plan_execute_device(plan.get(), &in, &d), AFX_OK) << afx_plan_error(plan.get());
    const size_t n = (size_t)a.n() * (size_t)d.n_features * (size_t)d.frames_stride;
    float *copy = nullptr;
    ASSERT_EQ(cudaMallocHost((void **)&copy, n * 4), cudaSuccess);
    Gate gate;
    ASSERT_EQ(cudaStreamWaitEvent(reader, (cudaEvent_t)d.ready_event, 0), cudaSuccess);
    ASSERT_EQ(cudaLaunchHostFunc(reader, gate_fn, &gate), cudaSuccess);
    ASSERT_EQ(cudaMemcpyAsync(copy, d.data, n * 4, cudaMemcpyDeviceToHost, reader), cudaSuccess);
    ASSERT_EQ(cudaEventRecord(done_reading, reader), cudaSuccess);
    ASSERT_EQ(afx_plan_release_device_output(plan.get(), done_reading), AFX_OK) << afx_plan_error(plan.get());
    afx_device_output d2;
    std::memset(&d2, 0, sizeof d2);
    std::vector<int64_t> nf2(2, -7);
    d2.n_frames = nf2.data();
    afx_input in2 = b2.input();
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(afx_plan_execute_device(plan.get(), &in2, &d2), AFX_OK) << afx_plan_error(plan.get());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // give an unordered write time to land
    gate.open = 1;
    ASSERT_EQ(cudaStreamSynchronize(reader), cudaSuccess);
    EXPECT_EQ(gate.timed_out.load(), 0) << "the next execute waited " << secs << " s on the host for the reads";
    int64_t diff = 0;
    for (int c = 0; c < a.n(); c++)
        for (int64_t t = 0; t < want.rows(c); t++)
            for (int f = 0; f < want.nfeat; f++)
                diff += copy[((size_t)c * (size_t)want.nfeat + (size_t)f) * (size_t)d.frames_stride + (size_t)t] !=
                        want.at(c, t, f);
    EXPECT_EQ(diff, 0) << "the next execute overwrote the output before the released reads ran";
    EXPECT_EQ(afx_plan_device_output_wait(plan.get(), &d2), AFX_OK) << afx_plan_error(plan.get());
    EXPECT_EQ(afx_plan_release_device_output(plan.get(), nullptr), AFX_OK);
    cudaFreeHost(copy);
    cudaEventDestroy(done_reading);
    cudaStreamDestroy(reader);
#endif
}

// An output buffer in pinned memory is downloaded into directly (at the caller's stride, padding zeroed):
// the same bytes as a pageable buffer, no write outside it.
TEST(CudaApi, PinnedOutputBufferEqualsPageable) {
    AFX_REQUIRE_REAL_GPU();
#ifdef AFX_TEST_HAVE_CUDA
    for (afx_layout lay : {AFX_LAYOUT_FT, AFX_LAYOUT_TF})
        for (afx_pooling pool : {AFX_POOL_NONE, AFX_POOL_MEAN}) {
            SCOPED_TRACE(testing::Message() << "layout " << lay << " pooling " << pool);
            afx_params p = base_params();
            p.backend = AFX_BACKEND_CUDA;
            p.layout = lay;
            p.pooling = pool;
            ref::PlanPtr plan = ref::make_plan(p);
            ASSERT_TRUE(plan);
            Batch b = make_batch({16000, 0, 7000, 300}, 61, 16000);
            b.f32[2][5] = NAN;
            const Out pageable = run_on(plan.get(), b, 5);
            afx_input in = b.input();
            int64_t maxf = 0;
            ASSERT_EQ(afx_plan_output_shape(plan.get(), &in, nullptr, &maxf), AFX_OK);
            const int64_t stride = maxf + 5;
            const size_t bytes = afx_plan_output_size(plan.get(), b.n(), stride) * 4;
            uint8_t *raw = nullptr;
            ASSERT_EQ(cudaMallocHost((void **)&raw, bytes + 2 * kGuardBytes), cudaSuccess);
            std::memset(raw, 0xA7, bytes + 2 * kGuardBytes);  // guards, and a sentinel inside
            std::vector<int64_t> nf((size_t)b.n(), -7);
            afx_output o = {raw + kGuardBytes, stride, nf.data()};
            const afx_status st = afx_plan_execute(plan.get(), &in, &o);
            EXPECT_EQ(st, pageable.st) << afx_plan_error(plan.get());
            EXPECT_EQ(nf, pageable.nf);
            EXPECT_EQ(std::memcmp(raw + kGuardBytes, pageable.v.data(), bytes), 0) << "pinned output differs";
            size_t touched = 0;
            for (size_t i = 0; i < kGuardBytes; i++) touched += (raw[i] != 0xA7) + (raw[kGuardBytes + bytes + i] != 0xA7);
            EXPECT_EQ(touched, 0u) << "bytes written outside the pinned output buffer";
            cudaFreeHost(raw);
        }
#endif
}

// ------------------------------------------------------------------------------------------------
// Without a device (these run everywhere, CI included)
// ------------------------------------------------------------------------------------------------
TEST(CudaBackendSelection, CudaAndAuto) {
    afx_params p = base_params();
    const int count = afx_cuda_device_count();
    EXPECT_GE(count, 0);
    if (!kBuiltWithCuda) {
        EXPECT_EQ(count, 0) << "a build without CUDA reports devices";
    }
    p.backend = AFX_BACKEND_CUDA;
    afx_plan *plan = reinterpret_cast<afx_plan *>(0x1);
    char err[AFX_ERROR_MAX] = {0};
    const afx_status st = afx_plan_create(&p, &plan, err, sizeof err);
    p.backend = AFX_BACKEND_AUTO;
    ref::PlanPtr autop = ref::make_plan(p);
    ASSERT_TRUE(autop);
    if (count == 0) {
        EXPECT_EQ(st, AFX_ERR_BACKEND_UNAVAILABLE) << err;
        EXPECT_EQ(plan, nullptr);
        const std::string m = lower(err);
        if (kBuiltWithCuda)
            EXPECT_TRUE(m.find("device") != std::string::npos || m.find("driver") != std::string::npos)
                << "message should say that no device/driver was found: " << err;
        else
            EXPECT_NE(m.find("cuda"), std::string::npos) << err;
        EXPECT_EQ(afx_plan_backend(autop.get()), AFX_BACKEND_CPU) << "AUTO without a device must run on the CPU";
        // AUTO's CPU plan computes.
        const Out o = run_on(autop.get(), make_batch({4000}, 1, 16000));
        EXPECT_EQ(o.st, AFX_OK) << o.err;
        check_buffer(o, "AUTO plan output");
    } else {
        EXPECT_EQ(st, AFX_OK) << err;
        ASSERT_NE(plan, nullptr);
        EXPECT_EQ(afx_plan_backend(plan), AFX_BACKEND_CUDA);
        afx_plan_free(plan);
        EXPECT_EQ(afx_plan_backend(autop.get()), AFX_BACKEND_CUDA);
    }
}

TEST(CudaCpuPlan, CudaOnlyCallsUnavailable) {
    afx_params p = base_params();
    ref::PlanPtr plan = ref::make_plan(p);
    ASSERT_TRUE(plan);
    ASSERT_EQ(afx_plan_backend(plan.get()), AFX_BACKEND_CPU);
    const Batch b = make_batch({4000}, 2, 16000);
    afx_input in = b.input();
    afx_device_output d;
    std::memset(&d, 0, sizeof d);
    int64_t nf[1] = {-7};
    d.n_frames = nf;
    EXPECT_EQ(afx_plan_execute_device(plan.get(), &in, &d), AFX_ERR_BACKEND_UNAVAILABLE);
    EXPECT_NE(lower(afx_plan_error(plan.get())).find("cuda"), std::string::npos) << afx_plan_error(plan.get());
    EXPECT_EQ(d.data, nullptr);
    EXPECT_EQ(afx_plan_set_stream(plan.get(), nullptr), AFX_ERR_BACKEND_UNAVAILABLE);
    EXPECT_NE(lower(afx_plan_error(plan.get())).find("cuda"), std::string::npos) << afx_plan_error(plan.get());
    EXPECT_EQ(afx_plan_execute_device_input(plan.get(), &in, &d), AFX_ERR_BACKEND_UNAVAILABLE);
    EXPECT_EQ(afx_plan_device_output_wait(plan.get(), &d), AFX_ERR_BACKEND_UNAVAILABLE);
    EXPECT_NE(lower(afx_plan_error(plan.get())).find("cuda"), std::string::npos) << afx_plan_error(plan.get());
    EXPECT_EQ(afx_plan_release_device_output(plan.get(), nullptr), AFX_ERR_BACKEND_UNAVAILABLE);
    EXPECT_EQ(afx_plan_device_output_wait(nullptr, &d), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_plan_release_device_output(nullptr, nullptr), AFX_ERR_NULL_ARGUMENT);
    size_t dev = 123, host = 456;
    EXPECT_EQ(afx_plan_workspace_size(plan.get(), &dev, &host), AFX_ERR_BACKEND_UNAVAILABLE);
    EXPECT_EQ(dev, 0u);
    EXPECT_EQ(host, 0u);
    // NULL plans.
    EXPECT_EQ(afx_plan_execute_device(nullptr, &in, &d), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_plan_set_stream(nullptr, nullptr), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_plan_workspace_size(nullptr, &dev, &host), AFX_ERR_NULL_ARGUMENT);
    EXPECT_EQ(afx_plan_execute_batches(nullptr, nullptr, nullptr, 0, nullptr), AFX_ERR_NULL_ARGUMENT);
    // The plan still works afterwards.
    const Out o = run_on(plan.get(), b);
    EXPECT_EQ(o.st, AFX_OK) << o.err;
}

TEST(CudaCpuPlan, ExecuteBatchesEqualsExecute) { check_execute_batches(AFX_BACKEND_CPU); }

#ifdef AFX_TEST_HAVE_CUDA
// The CUDA backend's packing threads (host/cuda/pack_pool.c, compiled into this test in CUDA builds): every
// task of a call runs exactly once, calls follow each other, the threads really share the work, and a pool
// of one thread runs everything on the caller.
struct PoolJob {
    std::vector<std::atomic<int>> runs;
    std::atomic<int> in_flight{0}, most_in_flight{0};
    explicit PoolJob(size_t n) : runs(n) {}
};

void pool_task(void *arg, int i) {
    PoolJob *j = static_cast<PoolJob *>(arg);
    const int now = ++j->in_flight;
    int seen = j->most_in_flight.load();
    while (now > seen && !j->most_in_flight.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    j->runs[(size_t)i]++;
    --j->in_flight;
}

TEST(CudaPackPool, EveryTaskOnceAcrossThreads) {
    for (int threads : {1, 4}) {
        SCOPED_TRACE(testing::Message() << threads << " threads");
        afx_pack_pool *pool = afx_pack_pool_create(threads);
        ASSERT_NE(pool, nullptr);
        EXPECT_EQ(afx_pack_pool_threads(pool), threads);
        for (int call = 0; call < 20; call++) {
            const int n = call % 5 == 0 ? 1 : 37 + call;
            PoolJob job((size_t)n);
            afx_pack_pool_run(pool, n, pool_task, &job);
            for (int i = 0; i < n; i++) ASSERT_EQ(job.runs[(size_t)i].load(), 1) << "task " << i << " of call " << call;
            EXPECT_EQ(job.in_flight.load(), 0) << "the call returned before its tasks finished";
            if (threads == 1) {
                EXPECT_EQ(job.most_in_flight.load(), 1);
            } else if (n > 8) {
                EXPECT_GT(job.most_in_flight.load(), 1) << "the tasks never ran in parallel";
            }
        }
        afx_pack_pool_run(pool, 0, pool_task, nullptr);  // nothing to do
        afx_pack_pool_free(pool);
    }
    afx_pack_pool_free(nullptr);
}
#endif

}  // namespace
