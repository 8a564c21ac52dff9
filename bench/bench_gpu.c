/*
 * bench_gpu.c: throughput of the CUDA backend for the speech configuration (16 kHz, n_fft 512, win 400,
 * hop 160, 80 mels, log-mel), batches of 256 ten-second clips, on seeded synthetic audio.
 *
 *   afx_bench_gpu [--clips N] [--seconds S] [--batches B] [--repeat R]
 *
 * Each part of the path is measured on its own, in one run, so that no number hides another:
 *   1. PCIe: cudaMemcpyAsync pinned host -> device and device -> host (GB/s);
 *   2. device memory bandwidth: a device-to-device copy (bytes read + bytes written per second);
 *   3. GPU compute: afx_plan_execute_device_input on clips already in device memory (int16 and float32),
 *      timed with events on the plan's stream: no sample crosses PCIe, so the events enclose the kernels
 *      and cuFFT/cuBLAS calls only (plus the batch's few KB of metadata). Compared with the HBM floor: the
 *      input read once and the output written once at the measured device bandwidth;
 *   4. host packing: the time afx_plan_execute_device (host input) takes to return, on an idle device:
 *      the packing threads' copy into pinned staging and the queuing; and its end-to-end time to ready_event;
 *   5. host-to-host: afx_plan_execute_batches over B batches (pipelined upload, compute, download), int16 and
 *      float32 input from pageable memory, output into pageable and into pinned memory (downloaded into
 *      directly). Its floor is the duplex PCIe floor max(input / H2D, output / D2H): upload and download run
 *      at the same time on separate copy engines, so their times do not add.
 * Prints a table, then machine-readable `afx_gpu_<key>=<value>` lines (scripts/gpu-check reads them).
 * Times are medians of R repeats after a warm-up. This is a benchmark: it asserts nothing about speed.
 * Without a CUDA device it says so and exits 0.
 */
#define _POSIX_C_SOURCE 200809L
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "afx.h"

#define CK(call)                                                                                  \
    do {                                                                                          \
        cudaError_t e_ = (call);                                                                  \
        if (e_ != cudaSuccess) {                                                                  \
            fprintf(stderr, "bench_gpu: %s failed: %s (%s)\n", #call, cudaGetErrorString(e_),     \
                    cudaGetErrorName(e_));                                                        \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

#define AFX_CK(plan, call)                                                                        \
    do {                                                                                          \
        afx_status s_ = (call);                                                                   \
        if (s_ != AFX_OK) {                                                                       \
            fprintf(stderr, "bench_gpu: %s failed: %s: %s\n", #call, afx_status_name(s_),         \
                    afx_plan_error(plan));                                                        \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "bench_gpu: cannot allocate %zu bytes of host memory\n", bytes);
        exit(1);
    }
    return p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Fixed 64-bit LCG (Knuth MMIX constants): the same audio on every machine. */
static uint32_t lcg_next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static double lcg_unit(uint64_t *s) { return (double)lcg_next(s) / 2147483648.0; } /* [0, 1) */

/* Three sines (speech-band frequencies) under a slow envelope, plus noise. */
static void fill_clip(float *x, int64_t n, uint64_t clip) {
    uint64_t s = 0x9E3779B97F4A7C15ull ^ (clip * 0xBF58476D1CE4E5B9ull);
    double f[3], a[3];
    for (int k = 0; k < 3; k++) {
        f[k] = 80.0 + 3500.0 * lcg_unit(&s);
        a[k] = 0.05 + 0.2 * lcg_unit(&s);
    }
    const double env = 0.5 + 3.0 * lcg_unit(&s), two_pi = 6.283185307179586;
    for (int64_t i = 0; i < n; i++) {
        double t = (double)i / 16000.0, v = 0.0;
        for (int k = 0; k < 3; k++) v += a[k] * sin(two_pi * f[k] * t);
        v *= 0.6 + 0.4 * sin(two_pi * env * t);
        v += 0.02 * (2.0 * lcg_unit(&s) - 1.0);
        x[i] = (float)(v > 1.0 ? 1.0 : v < -1.0 ? -1.0 : v);
    }
}

/* GB/s (1e9 bytes) of a cudaMemcpyAsync of `bytes`, median of `reps`. */
static double copy_gbps(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind, cudaStream_t st,
                        int reps, double per_copy_bytes) {
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    CK(cudaMemcpyAsync(dst, src, bytes, kind, st)); /* warm-up */
    CK(cudaStreamSynchronize(st));
    double *t = xmalloc(sizeof(double) * (size_t)reps);
    for (int r = 0; r < reps; r++) {
        float ms = 0.0f;
        CK(cudaEventRecord(a, st));
        CK(cudaMemcpyAsync(dst, src, bytes, kind, st));
        CK(cudaEventRecord(b, st));
        CK(cudaEventSynchronize(b));
        CK(cudaEventElapsedTime(&ms, a, b));
        t[r] = (double)ms * 1e-3;
    }
    double m = median(t, reps);
    free(t);
    CK(cudaEventDestroy(a));
    CK(cudaEventDestroy(b));
    return per_copy_bytes / m / 1e9;
}

typedef struct {
    int n_clips, n_batches, repeat;
    double seconds;
    int64_t n;           /* samples per clip */
    float *f32;          /* n_clips * n */
    int16_t *s16;        /* n_clips * n */
    const void **clips_f32, **clips_s16;
    const void **dev_clips_f32, **dev_clips_s16; /* the same clips in device memory */
    int64_t *lengths;
} bench_audio;

static afx_input make_input(const bench_audio *a, afx_sample_format fmt, uint64_t first, int on_device) {
    afx_input in;
    memset(&in, 0, sizeof in);
    in.format = fmt;
    in.n_channels = 1;
    if (on_device)
        in.clips = fmt == AFX_SAMPLE_S16 ? a->dev_clips_s16 : a->dev_clips_f32;
    else
        in.clips = fmt == AFX_SAMPLE_S16 ? a->clips_s16 : a->clips_f32;
    in.lengths = a->lengths;
    in.n_clips = a->n_clips;
    in.first_clip_index = first;
    return in;
}

/* GPU compute (device-resident input): ms per batch between events on `st` around
 * afx_plan_execute_device_input (median). */
static double time_device_input(afx_plan *plan, const bench_audio *a, afx_sample_format fmt, cudaStream_t st,
                                int reps) {
    afx_input in = make_input(a, fmt, 0, 1);
    int64_t *nf = xmalloc(sizeof(int64_t) * (size_t)a->n_clips);
    afx_device_output d;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    double *gpu = xmalloc(sizeof(double) * (size_t)reps);
    for (int r = -3; r < reps; r++) { /* three warm-up runs */
        memset(&d, 0, sizeof d);
        d.n_frames = nf;
        CK(cudaEventRecord(e0, st));
        AFX_CK(plan, afx_plan_execute_device_input(plan, &in, &d));
        CK(cudaEventRecord(e1, st));
        CK(cudaEventSynchronize(e1));
        AFX_CK(plan, afx_plan_device_output_wait(plan, &d));
        float ms = 0.0f;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        if (r >= 0) gpu[r] = (double)ms;
    }
    double m = median(gpu, reps);
    free(gpu);
    free(nf);
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    return m;
}

/* Host input, features left on the device: seconds until afx_plan_execute_device returns (packing into
 * pinned staging + queuing) and until ready_event (end to end), medians; the device is idle at each call. */
static void time_device(afx_plan *plan, const bench_audio *a, afx_sample_format fmt, cudaStream_t st, int reps,
                        double *call_s, double *total_s) {
    afx_input in = make_input(a, fmt, 0, 0);
    int64_t *nf = xmalloc(sizeof(int64_t) * (size_t)a->n_clips);
    afx_device_output d;
    double *call = xmalloc(sizeof(double) * (size_t)reps), *total = xmalloc(sizeof(double) * (size_t)reps);
    for (int r = -3; r < reps; r++) {
        memset(&d, 0, sizeof d);
        d.n_frames = nf;
        CK(cudaStreamSynchronize(st));
        double t0 = now_s();
        AFX_CK(plan, afx_plan_execute_device(plan, &in, &d));
        double t1 = now_s();
        CK(cudaEventSynchronize((cudaEvent_t)d.ready_event));
        double t2 = now_s();
        AFX_CK(plan, afx_plan_device_output_wait(plan, &d));
        if (r >= 0) {
            call[r] = t1 - t0;
            total[r] = t2 - t0;
        }
    }
    *call_s = median(call, reps);
    *total_s = median(total, reps);
    free(call);
    free(total);
    free(nf);
}

/* Host-to-host: seconds (median) for n_batches batches through afx_plan_execute_batches. */
static double time_host(afx_plan *plan, const bench_audio *a, afx_sample_format fmt, int reps, void **outs,
                        int64_t stride) {
    const int B = a->n_batches;
    afx_input *ins = xmalloc(sizeof(afx_input) * (size_t)B);
    afx_output *os = xmalloc(sizeof(afx_output) * (size_t)B);
    int64_t *nf = xmalloc(sizeof(int64_t) * (size_t)B * (size_t)a->n_clips);
    for (int b = 0; b < B; b++) {
        ins[b] = make_input(a, fmt, (uint64_t)b * (uint64_t)a->n_clips, 0);
        os[b].data = outs[b];
        os[b].frames_stride = stride;
        os[b].n_frames = nf + (size_t)b * (size_t)a->n_clips;
    }
    double *t = xmalloc(sizeof(double) * (size_t)reps);
    int done = 0;
    AFX_CK(plan, afx_plan_execute_batches(plan, ins, os, B < 2 ? B : 2, &done)); /* warm-up */
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        AFX_CK(plan, afx_plan_execute_batches(plan, ins, os, B, &done));
        t[r] = now_s() - t0;
    }
    double m = median(t, reps);
    free(t);
    free(ins);
    free(os);
    free(nf);
    return m;
}

static void usage(const char *argv0) {
    fprintf(stderr, "usage: %s [--clips N] [--seconds S] [--batches B] [--repeat R]\n", argv0);
}

int main(int argc, char **argv) {
    bench_audio a;
    memset(&a, 0, sizeof a);
    a.n_clips = 256;
    a.seconds = 10.0;
    a.n_batches = 8;
    a.repeat = 10;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) {
            usage(argv[0]);
            return 2;
        }
        if (!strcmp(argv[i], "--clips")) a.n_clips = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds")) a.seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--batches")) a.n_batches = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeat")) a.repeat = atoi(argv[++i]);
        else {
            usage(argv[0]);
            return 2;
        }
    }
    if (a.n_clips < 1 || a.seconds <= 0 || a.n_batches < 1 || a.repeat < 1) {
        usage(argv[0]);
        return 2;
    }

    int n_dev = 0;
    if (afx_cuda_device_count() == 0 || cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
        printf("bench_gpu: no CUDA device (afx_cuda_device_count() == 0): nothing measured\n");
        printf("afx_gpu_status=no_device\n");
        return 0;
    }
    struct cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    CK(cudaSetDevice(0));

    /* ---- audio, on the host and on the device ---- */
    a.n = (int64_t)(a.seconds * 16000.0 + 0.5);
    const size_t per = (size_t)a.n, total = per * (size_t)a.n_clips;
    a.f32 = xmalloc(sizeof(float) * total);
    a.s16 = xmalloc(sizeof(int16_t) * total);
    a.clips_f32 = xmalloc(sizeof(void *) * (size_t)a.n_clips);
    a.clips_s16 = xmalloc(sizeof(void *) * (size_t)a.n_clips);
    a.dev_clips_f32 = xmalloc(sizeof(void *) * (size_t)a.n_clips);
    a.dev_clips_s16 = xmalloc(sizeof(void *) * (size_t)a.n_clips);
    a.lengths = xmalloc(sizeof(int64_t) * (size_t)a.n_clips);
    for (int c = 0; c < a.n_clips; c++) {
        fill_clip(a.f32 + (size_t)c * per, a.n, (uint64_t)c);
        for (size_t i = 0; i < per; i++) a.s16[(size_t)c * per + i] = (int16_t)lrintf(a.f32[(size_t)c * per + i] * 32767.0f);
        a.clips_f32[c] = a.f32 + (size_t)c * per;
        a.clips_s16[c] = a.s16 + (size_t)c * per;
        a.lengths[c] = a.n;
    }
    float *dev_f32 = NULL;
    int16_t *dev_s16 = NULL;
    CK(cudaMalloc((void **)&dev_f32, sizeof(float) * total));
    CK(cudaMalloc((void **)&dev_s16, sizeof(int16_t) * total));
    CK(cudaMemcpy(dev_f32, a.f32, sizeof(float) * total, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dev_s16, a.s16, sizeof(int16_t) * total, cudaMemcpyHostToDevice));
    for (int c = 0; c < a.n_clips; c++) {
        a.dev_clips_f32[c] = dev_f32 + (size_t)c * per;
        a.dev_clips_s16[c] = dev_s16 + (size_t)c * per;
    }

    /* ---- plan: the speech configuration (afx_params_init defaults) on CUDA ---- */
    afx_params p;
    afx_params_init(&p);
    p.backend = AFX_BACKEND_CUDA;
    p.max_batch = a.n_clips;
    p.max_samples = a.n;
    char err[AFX_ERROR_MAX];
    afx_plan *plan = NULL;
    afx_status st = afx_plan_create(&p, &plan, err, sizeof err);
    if (st != AFX_OK) {
        fprintf(stderr, "bench_gpu: afx_plan_create: %s: %s\n", afx_status_name(st), err);
        printf("afx_gpu_status=plan_failed\n");
        return 1;
    }
    size_t ws_dev = 0, ws_pin = 0;
    AFX_CK(plan, afx_plan_workspace_size(plan, &ws_dev, &ws_pin));
    const int n_feat = afx_plan_n_features(plan);
    const int64_t frames = afx_plan_frames_for_length(plan, a.n);
    const double in_s16_bytes = (double)total * 2.0, in_f32_bytes = (double)total * 4.0;
    const double out_bytes = (double)a.n_clips * n_feat * (double)frames * 4.0;
    const double audio_hours = a.n_clips * a.seconds / 3600.0; /* per batch */

    cudaStream_t stream;
    CK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    AFX_CK(plan, afx_plan_set_stream(plan, stream));

    /* ---- bandwidths ---- */
    const size_t bw_bytes = (size_t)256 << 20;
    void *pinned = NULL, *dev_a = NULL, *dev_b = NULL;
    CK(cudaMallocHost(&pinned, bw_bytes));
    memset(pinned, 1, bw_bytes);
    CK(cudaMalloc(&dev_a, bw_bytes));
    const double h2d = copy_gbps(dev_a, pinned, bw_bytes, cudaMemcpyHostToDevice, stream, 10, (double)bw_bytes);
    const double d2h = copy_gbps(pinned, dev_a, bw_bytes, cudaMemcpyDeviceToHost, stream, 10, (double)bw_bytes);
    CK(cudaFreeHost(pinned));
    CK(cudaFree(dev_a));
    const size_t d2d_bytes = (size_t)1 << 30;
    CK(cudaMalloc(&dev_a, d2d_bytes));
    CK(cudaMalloc(&dev_b, d2d_bytes));
    CK(cudaMemsetAsync(dev_a, 0, d2d_bytes, stream));
    const double dev_bw = copy_gbps(dev_b, dev_a, d2d_bytes, cudaMemcpyDeviceToDevice, stream, 10, 2.0 * (double)d2d_bytes);
    CK(cudaFree(dev_a));
    CK(cudaFree(dev_b));

    /* ---- correctness spot check: device input, host input and host output agree bit for bit ---- */
    {
        int64_t *nf = xmalloc(sizeof(int64_t) * (size_t)a.n_clips);
        const size_t elems = afx_plan_output_size(plan, a.n_clips, frames);
        float *from_dev = xmalloc(sizeof(float) * elems), *host = xmalloc(sizeof(float) * elems);
        afx_input din = make_input(&a, AFX_SAMPLE_S16, 0, 1), hin = make_input(&a, AFX_SAMPLE_S16, 0, 0);
        afx_device_output d;
        memset(&d, 0, sizeof d);
        d.n_frames = nf;
        AFX_CK(plan, afx_plan_execute_device_input(plan, &din, &d));
        AFX_CK(plan, afx_plan_device_output_wait(plan, &d));
        CK(cudaMemcpy(from_dev, d.data, sizeof(float) * elems, cudaMemcpyDeviceToHost));
        afx_output o = {host, frames, nf};
        AFX_CK(plan, afx_plan_execute(plan, &hin, &o));
        int same = d.frames_stride == frames && memcmp(from_dev, host, sizeof(float) * elems) == 0 && nf[0] == frames;
        printf("check: device-input output %s host execute output (%d clips, %lld frames)\n",
               same ? "equals" : "DIFFERS FROM", a.n_clips, (long long)nf[0]);
        printf("afx_gpu_check=%s\n", same ? "ok" : "mismatch");
        free(from_dev);
        free(host);
        free(nf);
    }

    /* ---- GPU compute on device-resident input ---- */
    const double gpu_s16_ms = time_device_input(plan, &a, AFX_SAMPLE_S16, stream, a.repeat);
    const double gpu_f32_ms = time_device_input(plan, &a, AFX_SAMPLE_F32, stream, a.repeat);

    /* ---- host input, device output: packing and end to end ---- */
    double call_s16 = 0, e2e_s16 = 0, call_f32 = 0, e2e_f32 = 0;
    time_device(plan, &a, AFX_SAMPLE_S16, stream, a.repeat, &call_s16, &e2e_s16);
    time_device(plan, &a, AFX_SAMPLE_F32, stream, a.repeat, &call_f32, &e2e_f32);

    /* ---- host-to-host, output in pageable and in pinned memory ---- */
    const size_t out_elems = afx_plan_output_size(plan, a.n_clips, frames);
    void **outs = xmalloc(sizeof(void *) * (size_t)a.n_batches), **pouts = xmalloc(sizeof(void *) * (size_t)a.n_batches);
    for (int b = 0; b < a.n_batches; b++) {
        outs[b] = xmalloc(sizeof(float) * out_elems);
        memset(outs[b], 0, sizeof(float) * out_elems); /* fault the pages in before timing */
        CK(cudaMallocHost(&pouts[b], sizeof(float) * out_elems));
        memset(pouts[b], 0, sizeof(float) * out_elems);
    }
    const int host_reps = a.repeat < 3 ? a.repeat : 3;
    const double h2h_s16 = time_host(plan, &a, AFX_SAMPLE_S16, host_reps, outs, frames) / a.n_batches;
    const double h2h_f32 = time_host(plan, &a, AFX_SAMPLE_F32, host_reps, outs, frames) / a.n_batches;
    const double h2h_s16_pin = time_host(plan, &a, AFX_SAMPLE_S16, host_reps, pouts, frames) / a.n_batches;
    const double h2h_f32_pin = time_host(plan, &a, AFX_SAMPLE_F32, host_reps, pouts, frames) / a.n_batches;
    for (int b = 0; b < a.n_batches; b++) {
        free(outs[b]);
        CK(cudaFreeHost(pouts[b]));
    }
    free(outs);
    free(pouts);

    /* ---- floors ---- */
    const double hbm_s16 = (in_s16_bytes + out_bytes) / (dev_bw * 1e9) * 1e3; /* ms */
    const double hbm_f32 = (in_f32_bytes + out_bytes) / (dev_bw * 1e9) * 1e3;
    const double up_s16 = in_s16_bytes / (h2d * 1e9) * 1e3, up_f32 = in_f32_bytes / (h2d * 1e9) * 1e3;
    const double down = out_bytes / (d2h * 1e9) * 1e3;
    const double duplex_s16 = up_s16 > down ? up_s16 : down, duplex_f32 = up_f32 > down ? up_f32 : down;

    printf("afx %s CUDA backend on %s (sm_%d%d, %.0f GiB), %d clips x %.1f s at 16 kHz, n_fft 512, win 400, "
           "hop 160, 80 mels, log-mel; medians of %d runs\n",
           afx_version_string(), prop.name, prop.major, prop.minor, (double)prop.totalGlobalMem / 1073741824.0,
           a.n_clips, a.seconds, a.repeat);
    printf("plan workspace: %.1f MiB device, %.1f MiB pinned host\n", (double)ws_dev / 1048576.0,
           (double)ws_pin / 1048576.0);
    printf("bandwidth: PCIe H2D %.1f GB/s, D2H %.1f GB/s, device (D2D read+write) %.0f GB/s\n", h2d, d2h, dev_bw);
    printf("per batch: input %.1f MB (int16) / %.1f MB (f32), output %.1f MB (f32 features)\n", in_s16_bytes / 1e6,
           in_f32_bytes / 1e6, out_bytes / 1e6);
    printf("\n| part | input | ms / batch | audio h / s | floor ms | floor / measured |\n");
    printf("|---|---|---|---|---|---|\n");
    printf("| GPU compute, device-resident input (execute_device_input) | int16 | %.3f | %.1f | %.3f (HBM) | %.2f |\n",
           gpu_s16_ms, audio_hours / (gpu_s16_ms * 1e-3), hbm_s16, hbm_s16 / gpu_s16_ms);
    printf("| GPU compute, device-resident input (execute_device_input) | f32 | %.3f | %.1f | %.3f (HBM) | %.2f |\n",
           gpu_f32_ms, audio_hours / (gpu_f32_ms * 1e-3), hbm_f32, hbm_f32 / gpu_f32_ms);
    printf("| PCIe upload of the input (H2D at the measured rate) | int16 | %.3f | | | |\n", up_s16);
    printf("| PCIe upload of the input (H2D at the measured rate) | f32 | %.3f | | | |\n", up_f32);
    printf("| PCIe download of the output (D2H at the measured rate) | - | %.3f | | | |\n", down);
    printf("| host packing (execute_device returns) | int16 | %.3f | | | |\n", call_s16 * 1e3);
    printf("| host packing (execute_device returns) | f32 | %.3f | | | |\n", call_f32 * 1e3);
    printf("| host input to device output, end to end (execute_device) | int16 | %.3f | %.1f | | |\n", e2e_s16 * 1e3,
           audio_hours / e2e_s16);
    printf("| host input to device output, end to end (execute_device) | f32 | %.3f | %.1f | | |\n", e2e_f32 * 1e3,
           audio_hours / e2e_f32);
    printf("| host-to-host, pageable output (execute_batches x%d) | int16 | %.3f | %.1f | %.3f (duplex PCIe) | %.2f |\n",
           a.n_batches, h2h_s16 * 1e3, audio_hours / h2h_s16, duplex_s16, duplex_s16 / (h2h_s16 * 1e3));
    printf("| host-to-host, pageable output (execute_batches x%d) | f32 | %.3f | %.1f | %.3f (duplex PCIe) | %.2f |\n",
           a.n_batches, h2h_f32 * 1e3, audio_hours / h2h_f32, duplex_f32, duplex_f32 / (h2h_f32 * 1e3));
    printf("| host-to-host, pinned output (execute_batches x%d) | int16 | %.3f | %.1f | %.3f (duplex PCIe) | %.2f |\n",
           a.n_batches, h2h_s16_pin * 1e3, audio_hours / h2h_s16_pin, duplex_s16, duplex_s16 / (h2h_s16_pin * 1e3));
    printf("| host-to-host, pinned output (execute_batches x%d) | f32 | %.3f | %.1f | %.3f (duplex PCIe) | %.2f |\n",
           a.n_batches, h2h_f32_pin * 1e3, audio_hours / h2h_f32_pin, duplex_f32, duplex_f32 / (h2h_f32_pin * 1e3));
    printf("\nThe duplex PCIe floor is max(input / H2D, output / D2H): upload and download overlap on separate\n"
           "copy engines. Targets: device-resident >= 0.25 of the HBM floor, host-to-host int16 >= 0.70\n"
           "of the duplex PCIe floor; the torch comparison is bench/torch_peer.py (same device-resident input).\n");

    printf("afx_gpu_device_name=%s\n", prop.name);
    printf("afx_gpu_clips=%d\nafx_gpu_clip_seconds=%g\nafx_gpu_batches=%d\nafx_gpu_frames=%lld\n", a.n_clips,
           a.seconds, a.n_batches, (long long)frames);
    printf("afx_gpu_workspace_device_mib=%.1f\nafx_gpu_workspace_pinned_mib=%.1f\n", (double)ws_dev / 1048576.0,
           (double)ws_pin / 1048576.0);
    printf("afx_gpu_pcie_h2d_gbps=%.2f\nafx_gpu_pcie_d2h_gbps=%.2f\nafx_gpu_device_bw_gbps=%.1f\n", h2d, d2h, dev_bw);
    printf("afx_gpu_compute_s16_ms=%.4f\nafx_gpu_compute_f32_ms=%.4f\n", gpu_s16_ms, gpu_f32_ms);
    printf("afx_gpu_d2d_s16_hours_per_s=%.2f\nafx_gpu_d2d_f32_hours_per_s=%.2f\n", audio_hours / (gpu_s16_ms * 1e-3),
           audio_hours / (gpu_f32_ms * 1e-3));
    printf("afx_gpu_hbm_floor_s16_ms=%.4f\nafx_gpu_hbm_floor_f32_ms=%.4f\n", hbm_s16, hbm_f32);
    printf("afx_gpu_hbm_ratio_s16=%.3f\nafx_gpu_hbm_ratio_f32=%.3f\n", hbm_s16 / gpu_s16_ms, hbm_f32 / gpu_f32_ms);
    printf("afx_gpu_upload_s16_ms=%.4f\nafx_gpu_upload_f32_ms=%.4f\nafx_gpu_download_ms=%.4f\n", up_s16, up_f32, down);
    printf("afx_gpu_pack_s16_ms=%.4f\nafx_gpu_pack_f32_ms=%.4f\n", call_s16 * 1e3, call_f32 * 1e3);
    printf("afx_gpu_e2e_s16_ms=%.4f\nafx_gpu_e2e_f32_ms=%.4f\n", e2e_s16 * 1e3, e2e_f32 * 1e3);
    printf("afx_gpu_h2h_s16_ms=%.4f\nafx_gpu_h2h_s16_hours_per_s=%.2f\n", h2h_s16 * 1e3, audio_hours / h2h_s16);
    printf("afx_gpu_h2h_f32_ms=%.4f\nafx_gpu_h2h_f32_hours_per_s=%.2f\n", h2h_f32 * 1e3, audio_hours / h2h_f32);
    printf("afx_gpu_h2h_pinned_s16_ms=%.4f\nafx_gpu_h2h_pinned_s16_hours_per_s=%.2f\n", h2h_s16_pin * 1e3,
           audio_hours / h2h_s16_pin);
    printf("afx_gpu_h2h_pinned_f32_ms=%.4f\nafx_gpu_h2h_pinned_f32_hours_per_s=%.2f\n", h2h_f32_pin * 1e3,
           audio_hours / h2h_f32_pin);
    printf("afx_gpu_duplex_floor_s16_ms=%.4f\nafx_gpu_duplex_floor_f32_ms=%.4f\n", duplex_s16, duplex_f32);
    printf("afx_gpu_h2h_s16_pcie_efficiency=%.3f\nafx_gpu_h2h_pinned_s16_pcie_efficiency=%.3f\n",
           duplex_s16 / (h2h_s16 * 1e3), duplex_s16 / (h2h_s16_pin * 1e3));
    printf("afx_gpu_h2h_f32_pcie_efficiency=%.3f\nafx_gpu_h2h_pinned_f32_pcie_efficiency=%.3f\n",
           duplex_f32 / (h2h_f32 * 1e3), duplex_f32 / (h2h_f32_pin * 1e3));
    printf("afx_gpu_status=ok\n");

    AFX_CK(plan, afx_plan_set_stream(plan, NULL));
    afx_plan_free(plan);
    CK(cudaStreamDestroy(stream));
    CK(cudaFree(dev_f32));
    CK(cudaFree(dev_s16));
    free(a.f32);
    free(a.s16);
    free((void *)a.clips_f32);
    free((void *)a.clips_s16);
    free((void *)a.dev_clips_f32);
    free((void *)a.dev_clips_s16);
    free(a.lengths);
    return 0;
}
