/* util.c: messages, checked size arithmetic and growable buffers of the audio module. */
#define _POSIX_C_SOURCE 200809L /* the XSI strerror_r */

#include "audio_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void afx_audio_err(char *err, size_t err_size, const char *fmt, ...)
{
    if (!err || err_size == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

/* strerror is not thread-safe; the XSI strerror_r is. */
void afx_audio_errno_text(int code, char *buf, size_t size)
{
    if (strerror_r(code, buf, size) != 0) snprintf(buf, size, "error %d", code);
}

afx_status afx_audio_oom(const char *name, char *err, size_t err_size)
{
    afx_audio_err(err, err_size, "%s: out of memory", name);
    return AFX_ERR_OUT_OF_MEMORY;
}

int afx_audio_bytes_for(size_t a, size_t b, size_t elem, size_t *out)
{
    const size_t limit = (size_t)PTRDIFF_MAX;
    if (a != 0 && b > limit / a) return 0;
    if (a * b != 0 && elem > limit / (a * b)) return 0;
    *out = a * b * elem;
    return 1;
}

int afx_audio_ceil_scaled(int64_t n, int num, int den, int64_t *out)
{
    const int64_t q = n / den, r = n % den; /* r * num < den * num < 2^62 */
    if (q > (INT64_MAX - num) / num) return 0;
    *out = q * num + (r * num + den - 1) / den;
    return 1;
}

int afx_buffer_reserve(afx_buffer *buf, size_t bytes)
{
    if (bytes <= buf->bytes) return 1;
    /* Grow by half again at least, so a stream read in pieces costs amortized O(1) copies. */
    size_t want = buf->bytes + buf->bytes / 2;
    if (want < bytes || want < buf->bytes) want = bytes;
    void *p = realloc(buf->data, want);
    if (!p && want != bytes) p = realloc(buf->data, want = bytes);
    if (!p) return 0;
    buf->data = p;
    buf->bytes = want;
    return 1;
}

void afx_buffer_free(afx_buffer *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->bytes = 0;
}
