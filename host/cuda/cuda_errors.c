/*
 * cuda_errors.c: every failed CUDA, cuFFT or cuBLAS call becomes an afx_status and the plan's message
 * "<call>: <error name> (<detail>)". Allocation failures are AFX_ERR_OUT_OF_MEMORY, a missing driver,
 * device or kernel image AFX_ERR_BACKEND_UNAVAILABLE, everything else AFX_ERR_INTERNAL.
 */
#include <stdarg.h>
#include <stdio.h>

#include "cuda_state.h"

/* The plan's message "<call>: <error name> (<detail>)" for a failed CUDA, cuFFT or cuBLAS call described by
 * fmt/ap, with status st. Clears a non-sticky CUDA error. */
static afx_status call_fail(afx_plan *plan, afx_status st, const char *name, const char *detail, const char *fmt,
                            va_list ap) {
    char what[256];
    vsnprintf(what, sizeof what, fmt, ap);
    (void)cudaGetLastError();
    return AFX_PLAN_FAIL(plan, st, "%s: %s (%s)", what, name, detail);
}

/* AFX_OK for cudaSuccess; else the message "<call>: <error name> (<error text>)". Allocation failures are
 * AFX_ERR_OUT_OF_MEMORY, a missing driver/device/kernel image AFX_ERR_BACKEND_UNAVAILABLE, everything else
 * AFX_ERR_INTERNAL. */
afx_status afx_cu_cuda_fail(afx_plan *plan, cudaError_t e, const char *fmt, ...) {
    if (e == cudaSuccess) return AFX_OK;
    afx_status st = AFX_ERR_INTERNAL;
    if (e == cudaErrorMemoryAllocation)
        st = AFX_ERR_OUT_OF_MEMORY;
    else if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || e == cudaErrorDevicesUnavailable ||
             e == cudaErrorNoKernelImageForDevice || e == cudaErrorInvalidDevice)
        st = AFX_ERR_BACKEND_UNAVAILABLE;
    va_list ap;
    va_start(ap, fmt);
    st = call_fail(plan, st, cudaGetErrorName(e), cudaGetErrorString(e), fmt, ap);
    va_end(ap);
    return st;
}

static const char *cufft_name(cufftResult r) {
    switch (r) {
        case CUFFT_SUCCESS:
            return "CUFFT_SUCCESS";
        case CUFFT_INVALID_PLAN:
            return "CUFFT_INVALID_PLAN";
        case CUFFT_ALLOC_FAILED:
            return "CUFFT_ALLOC_FAILED";
        case CUFFT_INVALID_TYPE:
            return "CUFFT_INVALID_TYPE";
        case CUFFT_INVALID_VALUE:
            return "CUFFT_INVALID_VALUE";
        case CUFFT_INTERNAL_ERROR:
            return "CUFFT_INTERNAL_ERROR";
        case CUFFT_EXEC_FAILED:
            return "CUFFT_EXEC_FAILED";
        case CUFFT_SETUP_FAILED:
            return "CUFFT_SETUP_FAILED";
        case CUFFT_INVALID_SIZE:
            return "CUFFT_INVALID_SIZE";
        case CUFFT_UNALIGNED_DATA:
            return "CUFFT_UNALIGNED_DATA";
        case CUFFT_INVALID_DEVICE:
            return "CUFFT_INVALID_DEVICE";
        case CUFFT_NO_WORKSPACE:
            return "CUFFT_NO_WORKSPACE";
        case CUFFT_NOT_IMPLEMENTED:
            return "CUFFT_NOT_IMPLEMENTED";
        case CUFFT_NOT_SUPPORTED:
            return "CUFFT_NOT_SUPPORTED";
        default:
            return "unknown cuFFT error";
    }
}

afx_status afx_cu_cufft_fail(afx_plan *plan, cufftResult r, const char *fmt, ...) {
    if (r == CUFFT_SUCCESS) return AFX_OK;
    char code[16];
    snprintf(code, sizeof code, "%d", (int)r);
    va_list ap;
    va_start(ap, fmt);
    afx_status st = call_fail(plan, r == CUFFT_ALLOC_FAILED ? AFX_ERR_OUT_OF_MEMORY : AFX_ERR_INTERNAL,
                              cufft_name(r), code, fmt, ap);
    va_end(ap);
    return st;
}

afx_status afx_cu_cublas_fail(afx_plan *plan, cublasStatus_t r, const char *fmt, ...) {
    if (r == CUBLAS_STATUS_SUCCESS) return AFX_OK;
    va_list ap;
    va_start(ap, fmt);
    afx_status st = call_fail(plan, r == CUBLAS_STATUS_ALLOC_FAILED ? AFX_ERR_OUT_OF_MEMORY : AFX_ERR_INTERNAL,
                              cublasGetStatusName(r), cublasGetStatusString(r), fmt, ap);
    va_end(ap);
    return st;
}
