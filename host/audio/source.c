/*
 * source.c: the bytes of one input.
 *
 * A path is opened exactly once. Checking it first and opening it again (what this module did
 * before) consumed a FIFO's writer with the first open, so the second open blocked forever, and made
 * pipes and /dev/stdin look empty. Now the one descriptor is kept: a regular file is read in place
 * with pread (the decoders seek freely), and anything else (FIFO, pipe, character device, socket) is
 * read to its end into memory, bounded by max_stream_bytes, and decoded from there.
 */
#define _POSIX_C_SOURCE 200809L /* pread, O_CLOEXEC */

#include "audio_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

enum { STREAM_STEP = 1 << 16 }; /* bytes per read(2) of a non-seekable input */

static afx_status io_error(const char *path, const char *what, int code, char *err, size_t err_size)
{
    char why[128];
    afx_audio_errno_text(code, why, sizeof why);
    afx_audio_err(err, err_size, "%s: cannot %s: %s", path, what, why);
    return AFX_ERR_IO;
}

/* Reads fd to its end into stream (at most limit bytes when limit > 0). */
static afx_status read_stream(afx_source *src, int fd, int64_t limit, afx_buffer *stream, char *err,
                              size_t err_size)
{
    size_t used = 0;
    for (;;) {
        if (!afx_buffer_reserve(stream, used + STREAM_STEP)) return afx_audio_oom(src->name, err, err_size);
        const ssize_t got = read(fd, (unsigned char *)stream->data + used, STREAM_STEP);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return io_error(src->name, "read", errno, err, err_size);
        if (got == 0) break;
        used += (size_t)got;
        if (limit > 0 && used > (size_t)limit) {
            afx_audio_err(err, err_size, "%s: a non-seekable input (pipe, FIFO or device) longer than "
                          "max_stream_bytes = %lld bytes: refused (it is read into memory before decoding; "
                          "raise the limit or give a regular file)", src->name, (long long)limit);
            return AFX_ERR_EXCEEDS_PLAN;
        }
    }
    if (used == 0) {
        afx_audio_err(err, err_size, "%s: cannot decode: the input is empty (0 bytes)", src->name);
        return AFX_ERR_DECODE;
    }
    src->data = stream->data;
    src->size = (int64_t)used;
    return AFX_OK;
}

afx_status afx_source_open_path(afx_source *src, const char *path, int64_t max_stream_bytes,
                                afx_buffer *stream, char *err, size_t err_size)
{
    memset(src, 0, sizeof *src);
    src->name = path;
    src->fd = -1;
    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return io_error(path, "open", errno, err, err_size);

    struct stat st;
    if (fstat(fd, &st) != 0) {
        const int code = errno;
        close(fd);
        return io_error(path, "read", code, err, err_size);
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return io_error(path, "read", EISDIR, err, err_size);
    }
    if (S_ISREG(st.st_mode)) {
        if (st.st_size == 0) {
            close(fd);
            afx_audio_err(err, err_size, "%s: cannot decode: the file is empty (0 bytes)", path);
            return AFX_ERR_DECODE;
        }
        src->fd = fd;
        src->size = (int64_t)st.st_size;
        return AFX_OK;
    }
    const afx_status status = read_stream(src, fd, max_stream_bytes, stream, err, err_size);
    close(fd);
    return status;
}

void afx_source_open_memory(afx_source *src, const void *data, int64_t size, const char *name)
{
    memset(src, 0, sizeof *src);
    src->name = name;
    src->fd = -1;
    src->data = data;
    src->size = size;
}

int64_t afx_source_pread(afx_source *src, int64_t offset, void *buf, int64_t n)
{
    if (offset < 0 || n < 0) return -1;
    if (offset >= src->size || n == 0) return 0;
    if (n > src->size - offset) n = src->size - offset;
    if (src->fd < 0) {
        memcpy(buf, src->data + offset, (size_t)n);
        return n;
    }
    int64_t done = 0;
    while (done < n) {
        const ssize_t got = pread(src->fd, (unsigned char *)buf + done, (size_t)(n - done), (off_t)(offset + done));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            if (!src->read_errno) src->read_errno = errno;
            return done > 0 ? done : -1;
        }
        if (got == 0) break; /* the file shrank while being read: a short read, seen as truncation */
        done += got;
    }
    return done;
}

int64_t afx_source_read(afx_source *src, void *buf, int64_t n)
{
    const int64_t got = afx_source_pread(src, src->pos, buf, n);
    if (got > 0) src->pos += got;
    return got;
}

int64_t afx_source_seek(afx_source *src, int64_t offset, int whence)
{
    const int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? src->pos : src->size;
    if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) return -1;
    if ((offset < 0 && offset < -base) || (offset > 0 && offset > src->size - base)) return -1;
    src->pos = base + offset;
    return src->pos;
}

void afx_source_close(afx_source *src)
{
    if (src->fd >= 0) close(src->fd);
    src->fd = -1;
}

afx_status afx_source_check_io(const afx_source *src, char *err, size_t err_size)
{
    return src->read_errno ? io_error(src->name, "read", src->read_errno, err, err_size) : AFX_OK;
}
