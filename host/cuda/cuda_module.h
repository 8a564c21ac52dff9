/*
 * cuda_module.h: the interface between libafx and its separately loaded CUDA module (libafx_cuda.so).
 *
 * Why a module: the CUDA backend links the CUDA runtime, cuFFT and cuBLAS (about 220 MB mapped and 0.1 s
 * at load). libafx.so, libafx.a and the afx CLI link none of them; host/cuda/cuda_loader.c dlopen()s the
 * module only when a plan asks for backend cuda or auto, or afx_cuda_device_count() is called.
 *
 * The module exports one symbol, AFX_CUDA_MODULE_ENTRY. libafx calls it with the few libafx functions the
 * backend uses (so that the module carries no copy of them) and gets back the backend table. Both sides
 * compute afx_cuda_abi_fingerprint() from the headers they were compiled with: the plan object, the
 * parameter and batch structs and the backend table are shared by layout, so a module is only accepted
 * by a libafx of the same version and the same layout (a mismatch is refused with both values named).
 */
#ifndef AFX_CUDA_MODULE_H
#define AFX_CUDA_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* The exported entry point; the "1" is the version of this calling convention. */
#define AFX_CUDA_MODULE_ENTRY "afx_cuda_module_v1"

/* File name of the module (CMake's OUTPUT_NAME of the afx_cuda target). */
#ifndef AFX_CUDA_MODULE_FILE
#define AFX_CUDA_MODULE_FILE "libafx_cuda.so"
#endif

/* What libafx gives the module. */
typedef struct afx_cuda_host {
    unsigned version_number;                       /* AFX_VERSION_NUMBER of libafx */
    uint64_t abi;                                  /* afx_cuda_abi_fingerprint() of libafx */
    size_t (*mul_size)(size_t a, size_t b);        /* afx_mul_size */
    size_t (*dtype_size)(afx_dtype dtype);         /* afx_dtype_size */
    const char *(*feature_name)(afx_feature f);    /* afx_feature_name */
} afx_cuda_host;

/* What the module gives back. */
typedef struct afx_cuda_module {
    unsigned version_number;                       /* AFX_VERSION_NUMBER the module was built with */
    uint64_t abi;                                  /* its afx_cuda_abi_fingerprint() */
    const afx_backend_ops *ops;                    /* the CUDA backend */
    int (*probe_devices)(void);                    /* usable devices; 0 without driver or device, never fails */
} afx_cuda_module;

/* Fills *out. Returns 0 when the module accepts `host` (same version and layout), else -1 with *out still
 * describing the module, so that the caller can name both sides. */
typedef int (*afx_cuda_module_entry_fn)(const afx_cuda_host *host, afx_cuda_module *out);

/* FNV-1a over the sizes and a few offsets of everything both sides share by layout, and the version. */
static inline uint64_t afx_cuda_abi_mix(uint64_t h, uint64_t v) {
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xffu;
        h *= 0x100000001b3ull;
    }
    return h;
}

static inline uint64_t afx_cuda_abi_fingerprint(void) {
    const uint64_t parts[] = {
        AFX_VERSION_NUMBER,
        sizeof(struct afx_plan_s),
        offsetof(struct afx_plan_s, backend_state),
        offsetof(struct afx_plan_s, window),
        offsetof(struct afx_plan_s, floor_range),
        offsetof(struct afx_plan_s, err),
        sizeof(afx_params),
        offsetof(afx_params, cuda_device),
        sizeof(afx_backend_ops),
        sizeof(afx_input),
        sizeof(afx_output),
        sizeof(afx_device_output),
        AFX_ERROR_MAX,
    };
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) h = afx_cuda_abi_mix(h, parts[i]);
    return h;
}

#endif /* AFX_CUDA_MODULE_H */
