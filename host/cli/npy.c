/*
 * npy.c: NumPy .npy v1.0 writer for float32 arrays (see npy.h for the exact layout).
 */
#include "npy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Bytes of the fixed part: magic (6) + version (2) + header length (2). */
#define NPY_PREAMBLE 10
/* Total header size (preamble + dict + padding) is a multiple of this, as numpy writes it. */
#define NPY_ALIGN 64
/* Floats converted per chunk when the host is big-endian. */
#define NPY_CHUNK 4096

/* Formats a message into err (if any). */
static void set_err(char *err, size_t err_size, const char *fmt, ...)
{
    if (err == NULL || err_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

/* 1 when the host stores integers little-endian first. */
static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* Number of elements of the shape into *count; 0 if a dimension is negative or the product overflows. */
static int shape_count(int ndim, const int64_t *shape, uint64_t *count)
{
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return 0;
        uint64_t d = (uint64_t)shape[i];
        if (d != 0 && n > (UINT64_MAX / sizeof(float)) / d)
            return 0;
        n *= d;
    }
    *count = n;
    return 1;
}

/* Writes the shape tuple, e.g. "(3, 4)", "(5,)" or "()", into buf. Returns its length or -1. */
static int format_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t len = 0;
    int n = snprintf(buf, size, "(");
    if (n < 0 || (size_t)n >= size)
        return -1;
    len = (size_t)n;
    for (int i = 0; i < ndim; i++) {
        const char *sep = (i + 1 < ndim) ? ", " : (ndim == 1 ? "," : "");
        n = snprintf(buf + len, size - len, "%" PRId64 "%s", shape[i], sep);
        if (n < 0 || (size_t)n >= size - len)
            return -1;
        len += (size_t)n;
    }
    n = snprintf(buf + len, size - len, ")");
    if (n < 0 || (size_t)n >= size - len)
        return -1;
    return (int)(len + (size_t)n);
}

size_t afx_npy_header(char *buf, size_t buf_size, int ndim, const int64_t *shape)
{
    return afx_npy_header_descr(buf, buf_size, "<f4", ndim, shape);
}

size_t afx_npy_header_descr(char *buf, size_t buf_size, const char *descr, int ndim, const int64_t *shape)
{
    uint64_t count = 0;
    size_t descr_len = descr ? strlen(descr) : 0;
    if (buf == NULL || descr_len < 2 || descr_len > 8 || strpbrk(descr, "'\\\n") != NULL || ndim < 0 ||
        ndim > AFX_NPY_MAX_DIMS || (ndim > 0 && shape == NULL) || !shape_count(ndim, shape, &count))
        return 0;

    char tuple[AFX_NPY_MAX_DIMS * 24 + 8];
    if (format_shape(tuple, sizeof tuple, ndim, shape) < 0)
        return 0;
    char dict[sizeof tuple + 80];
    int dict_len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr,
                            tuple);
    if (dict_len < 0 || (size_t)dict_len >= sizeof dict)
        return 0;

    /* dict, spaces, '\n': pad so that the whole preamble + header is a multiple of NPY_ALIGN. */
    size_t unpadded = NPY_PREAMBLE + (size_t)dict_len + 1;
    size_t total = (unpadded + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    size_t header_len = total - NPY_PREAMBLE;
    if (total > buf_size || header_len > UINT16_MAX)
        return 0;

    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = 1; /* major version */
    buf[7] = 0; /* minor version */
    buf[8] = (char)(header_len & 0xFFu);
    buf[9] = (char)((header_len >> 8) & 0xFFu);
    memcpy(buf + NPY_PREAMBLE, dict, (size_t)dict_len);
    memset(buf + NPY_PREAMBLE + dict_len, ' ', total - unpadded);
    buf[total - 1] = '\n';
    return total;
}

/* Writes n floats as little-endian float32. Returns 0 on success, -1 on a short write. */
static int write_floats(FILE *f, const float *data, uint64_t n)
{
    if (n == 0)
        return 0;
    if (host_is_little_endian())
        return fwrite(data, sizeof(float), (size_t)n, f) == (size_t)n ? 0 : -1;

    unsigned char chunk[NPY_CHUNK * sizeof(float)];
    for (uint64_t done = 0; done < n;) {
        size_t k = (n - done < NPY_CHUNK) ? (size_t)(n - done) : NPY_CHUNK;
        for (size_t i = 0; i < k; i++) {
            unsigned char b[sizeof(float)];
            memcpy(b, &data[done + i], sizeof(float));
            for (size_t j = 0; j < sizeof(float); j++)
                chunk[i * sizeof(float) + j] = b[sizeof(float) - 1 - j];
        }
        if (fwrite(chunk, sizeof(float), k, f) != k)
            return -1;
        done += k;
    }
    return 0;
}

int afx_npy_fwrite(FILE *f, const float *data, int ndim, const int64_t *shape)
{
    char header[1024];
    size_t header_size = afx_npy_header(header, sizeof header, ndim, shape);
    uint64_t count = 0;
    if (f == NULL || header_size == 0 || !shape_count(ndim, shape, &count) || (count > 0 && data == NULL)) {
        errno = EINVAL;
        return -1;
    }
    return (fwrite(header, 1, header_size, f) == header_size && write_floats(f, data, count) == 0) ? 0 : -1;
}

uint64_t afx_npy_file_size(int ndim, const int64_t *shape)
{
    char header[1024];
    size_t header_size = afx_npy_header(header, sizeof header, ndim, shape);
    uint64_t count = 0;
    if (header_size == 0 || !shape_count(ndim, shape, &count))
        return 0;
    return (uint64_t)header_size + count * sizeof(float);
}

int afx_npy_write(const char *path, const float *data, int ndim, const int64_t *shape, char *err,
                  size_t err_size)
{
    if (path == NULL) {
        set_err(err, err_size, "npy: no output path");
        return -1;
    }
    char header[1024];
    size_t header_size = afx_npy_header(header, sizeof header, ndim, shape);
    uint64_t count = 0;
    if (header_size == 0 || !shape_count(ndim, shape, &count) || (count > 0 && data == NULL)) {
        set_err(err, err_size, "%s: invalid array shape for .npy", path);
        return -1;
    }

    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        set_err(err, err_size, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    errno = 0;
    int failed = fwrite(header, 1, header_size, f) != header_size || write_floats(f, data, count) != 0;
    int saved_errno = errno;
    if (fclose(f) != 0 && !failed) {
        failed = 1;
        saved_errno = errno;
    }
    if (failed) {
        set_err(err, err_size, "%s: write failed: %s", path,
                saved_errno != 0 ? strerror(saved_errno) : "short write");
        remove(path);
        return -1;
    }
    return 0;
}
