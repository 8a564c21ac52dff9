/*
 * cuda_loader.c: finds and loads the CUDA module (libafx_cuda.so) the first time a plan asks for backend
 * cuda or auto, or afx_cuda_device_count() is called. Part of libafx; links no CUDA library.
 *
 * Search order (the first file that exists and loads wins):
 *   1. $AFX_CUDA_MODULE: the path of the module file. When set (non-empty), it is the only candidate, so a
 *      wrong path is an error rather than a silent fallback.
 *   2. the folder of the object that holds libafx's code (dladdr): libafx.so's folder, or the program's
 *      when libafx.a is linked in; this is where the Python wheel and `cmake --install` put the module;
 *   3. the running program's folder (/proc/self/exe) and that folder's ../lib;
 *   4. the install libdir compiled in (CMAKE_INSTALL_FULL_LIBDIR, AFX_CUDA_MODULE_INSTALL_DIR);
 *   5. the dynamic linker's own search by file name (LD_LIBRARY_PATH, the program's RUNPATH, ld.so.cache).
 * The result, success or failure, is kept for the life of the process (one attempt, under pthread_once),
 * so every plan sees the same answer and the module is never unloaded.
 *
 * A file that exists but fails to load (typically: the CUDA runtime, cuFFT or cuBLAS is not installed) or
 * belongs to another afx version or layout is reported with dlerror()'s text or both versions, so the
 * message of AFX_ERR_BACKEND_UNAVAILABLE says exactly what is missing.
 */
#define _GNU_SOURCE /* dladdr */

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cuda/cuda_module.h"
#include "internal.h"

/* Messages and paths are cut to their buffers on purpose (AFX_ERROR_MAX, PATH_MAX). */
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

/* An object of libafx itself, whose address dladdr() maps to the file that holds libafx's code. */
static const char g_anchor = 0;

#ifndef AFX_CUDA_MODULE_INSTALL_DIR
#define AFX_CUDA_MODULE_INSTALL_DIR ""
#endif

typedef struct loader_state {
    afx_status status;
    afx_cuda_module module;
    char message[AFX_ERROR_MAX];
} loader_state;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static loader_state g_loader;

/* Appends to a bounded buffer (truncates silently). */
static void append(char *buf, size_t size, const char *fmt, const char *a, const char *b) {
    size_t used = strlen(buf);
    if (used + 1 >= size) return;
    snprintf(buf + used, size - used, fmt, a, b);
}

/* Folder part of `path` into dir (empty when there is none). */
static void dirname_of(const char *path, char *dir, size_t size) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n >= size) n = 0;
    memcpy(dir, path, n);
    dir[n] = '\0';
}

/* Tries one file. 1: loaded (g_loader filled); 0: absent; -1: present but refused (reason in `why`). */
static int try_file(const char *path, char *why, size_t why_size) {
    if (access(path, F_OK) != 0) return 0;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(why, why_size, "%s", e ? e : "dlopen failed");
        return -1;
    }
    afx_cuda_module_entry_fn entry;
    void *sym = dlsym(h, AFX_CUDA_MODULE_ENTRY);
    memcpy(&entry, &sym, sizeof entry); /* object pointer -> function pointer, as POSIX dlsym() requires */
    if (!sym) {
        snprintf(why, why_size, "%s: no %s: not an afx CUDA module", path, AFX_CUDA_MODULE_ENTRY);
        dlclose(h);
        return -1;
    }
    /* The module keeps a pointer to this table: static storage. */
    static afx_cuda_host host;
    host.version_number = AFX_VERSION_NUMBER;
    host.abi = afx_cuda_abi_fingerprint();
    host.mul_size = afx_mul_size;
    host.dtype_size = afx_dtype_size;
    host.feature_name = afx_feature_name;
    afx_cuda_module mod;
    memset(&mod, 0, sizeof mod);
    if (entry(&host, &mod) != 0 || mod.abi != host.abi || mod.version_number != host.version_number || !mod.ops ||
        !mod.probe_devices) {
        snprintf(why, why_size,
                 "%s was built for afx %u.%u.%u (layout %016llx) but this libafx is %u.%u.%u (layout %016llx): "
                 "install the module and libafx from the same build",
                 path, mod.version_number / 10000, mod.version_number / 100 % 100, mod.version_number % 100,
                 (unsigned long long)mod.abi, host.version_number / 10000, host.version_number / 100 % 100,
                 host.version_number % 100, (unsigned long long)host.abi);
        dlclose(h);
        return -1;
    }
    g_loader.module = mod;
    return 1;
}

static void load_once(void) {
    char tried[AFX_ERROR_MAX] = "", first_error[AFX_ERROR_MAX] = "", why[AFX_ERROR_MAX];
    char dirs[4][PATH_MAX];
    int n_dirs = 0;

    const char *env = getenv("AFX_CUDA_MODULE");
    if (env && *env) {
        int r = try_file(env, why, sizeof why);
        if (r > 0) {
            g_loader.status = AFX_OK;
            return;
        }
        g_loader.status = AFX_ERR_BACKEND_UNAVAILABLE;
        if (r == 0)
            snprintf(g_loader.message, sizeof g_loader.message,
                     "cannot load the CUDA module: AFX_CUDA_MODULE=%s does not exist", env);
        else
            snprintf(g_loader.message, sizeof g_loader.message, "cannot load the CUDA module (AFX_CUDA_MODULE): %s",
                     why);
        return;
    }

    Dl_info info;
    memset(&info, 0, sizeof info);
    if (dladdr(&g_anchor, &info) && info.dli_fname && info.dli_fname[0] == '/')
        dirname_of(info.dli_fname, dirs[n_dirs++], PATH_MAX);
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        dirname_of(exe, dirs[n_dirs++], PATH_MAX);
        snprintf(dirs[n_dirs], PATH_MAX, "%.*s/../lib", PATH_MAX - 8, dirs[n_dirs - 1]);
        n_dirs++;
    }
    if (AFX_CUDA_MODULE_INSTALL_DIR[0]) snprintf(dirs[n_dirs++], PATH_MAX, "%s", AFX_CUDA_MODULE_INSTALL_DIR);

    for (int i = 0; i < n_dirs; i++) {
        if (!dirs[i][0]) continue;
        int dup = 0;
        for (int j = 0; j < i; j++) dup |= strcmp(dirs[i], dirs[j]) == 0;
        if (dup) continue;
        char path[PATH_MAX + sizeof AFX_CUDA_MODULE_FILE + 1];
        snprintf(path, sizeof path, "%s/%s", dirs[i], AFX_CUDA_MODULE_FILE);
        int r = try_file(path, why, sizeof why);
        if (r > 0) {
            g_loader.status = AFX_OK;
            return;
        }
        append(tried, sizeof tried, "%s%s", tried[0] ? ", " : "", dirs[i]);
        if (r < 0 && !first_error[0]) snprintf(first_error, sizeof first_error, "%s", why);
    }
    /* Last: the dynamic linker's search by name. */
    void *h = dlopen(AFX_CUDA_MODULE_FILE, RTLD_NOW | RTLD_LOCAL);
    if (h) {
        char path[PATH_MAX] = AFX_CUDA_MODULE_FILE;
        void *sym = dlsym(h, AFX_CUDA_MODULE_ENTRY);
        if (sym && dladdr(sym, &info) && info.dli_fname) snprintf(path, sizeof path, "%s", info.dli_fname);
        dlclose(h); /* try_file opens it again by path (a reference count: no reload) */
        int r = try_file(path, why, sizeof why);
        if (r > 0) {
            g_loader.status = AFX_OK;
            return;
        }
        if (r < 0 && !first_error[0]) snprintf(first_error, sizeof first_error, "%s", why);
    } else if (!first_error[0]) {
        const char *e = dlerror();
        /* "cannot open shared object file" for the module itself only means it is not on the path. */
        if (e && !strstr(e, AFX_CUDA_MODULE_FILE ": cannot open")) snprintf(first_error, sizeof first_error, "%s", e);
    }
    g_loader.status = AFX_ERR_BACKEND_UNAVAILABLE;
    if (first_error[0])
        snprintf(g_loader.message, sizeof g_loader.message, "cannot load the CUDA module: %s (looked in %s%sthe "
                 "library search path; AFX_CUDA_MODULE=path overrides)", first_error, tried, tried[0] ? ", " : "");
    else
        snprintf(g_loader.message, sizeof g_loader.message,
                 "the CUDA module %s was not found (looked in %s%sthe library search path; AFX_CUDA_MODULE=path "
                 "overrides)", AFX_CUDA_MODULE_FILE, tried, tried[0] ? ", " : "");
}

afx_status afx_cuda_load(const afx_backend_ops **ops, char *err, size_t err_size) {
    *ops = NULL;
    if (pthread_once(&g_once, load_once) != 0)
        return afx_fail(err, err_size, AFX_ERR_INTERNAL, "pthread_once failed while loading the CUDA module");
    if (g_loader.status != AFX_OK) return afx_fail(err, err_size, g_loader.status, "%s", g_loader.message);
    *ops = g_loader.module.ops;
    return AFX_OK;
}

int afx_cuda_probe_devices(void) {
    const afx_backend_ops *ops = NULL;
    if (afx_cuda_load(&ops, NULL, 0) != AFX_OK) return 0;
    return g_loader.module.probe_devices();
}
