/*
 * cuda_module.c: the one exported symbol of libafx_cuda.so (cuda_module.h), and the libafx functions the backend
 * calls, forwarded to the libafx that loaded the module (the module carries no copy of libafx).
 */
#include <stdarg.h>
#include <stdio.h>

#include "cuda/cuda_module.h"
#include "cuda_state.h"

static const afx_cuda_host *g_host;

/* libafx's afx_fail is variadic: formatting is libc's vsnprintf, with the same rules. */
afx_status afx_fail(char *buf, size_t size, afx_status status, const char *fmt, ...) {
    if (buf && size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, size, fmt, ap);
        va_end(ap);
    }
    return status;
}

size_t afx_mul_size(size_t a, size_t b) { return g_host->mul_size(a, b); }
size_t afx_dtype_size(afx_dtype dtype) { return g_host->dtype_size(dtype); }
const char *afx_cu_feature_name(afx_feature f) { return g_host->feature_name(f); }

__attribute__((visibility("default"))) int afx_cuda_module_v1(const afx_cuda_host *host, afx_cuda_module *out);

int afx_cuda_module_v1(const afx_cuda_host *host, afx_cuda_module *out) {
    out->version_number = AFX_VERSION_NUMBER;
    out->abi = afx_cuda_abi_fingerprint();
    out->ops = &afx_cu_backend_ops;
    out->probe_devices = afx_cu_probe_devices;
    if (!host || host->version_number != AFX_VERSION_NUMBER || host->abi != out->abi || !host->mul_size ||
        !host->dtype_size || !host->feature_name)
        return -1;
    g_host = host; /* libafx's own static data: valid as long as the process (the module is never unloaded) */
    return 0;
}
