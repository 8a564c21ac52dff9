/*
 * writers.c: npy, WebDataset tar (libarchive) and Kaldi ark outputs (writers.h).
 */
#define _GNU_SOURCE

#include "writers.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "npy.h"
#include "outfs.h"

/* Size of a committed file, or -1. */
static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

int afx_write_npy_file(const char *path, const float *data, int ndim, const int64_t *shape, int64_t *bytes,
                       char *err, size_t err_size)
{
    afx_tmp t;
    if (afx_tmp_open(&t, path, err, err_size) != 0)
        return -1;
    if (afx_npy_fwrite(t.f, data, ndim, shape) != 0) {
        snprintf(err, err_size, "cannot write '%s': %s", path, strerror(errno));
        afx_tmp_abort(&t);
        return -1;
    }
    if (afx_tmp_commit(&t, path, err, err_size) != 0)
        return -1;
    *bytes = file_size(path);
    return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* WebDataset tar                                                                                 */
/* ---------------------------------------------------------------------------------------------- */

/* Adds one regular file member. 0 or -1 with err. */
static int tar_member(struct archive *a, struct archive_entry *e, const char *name, const void *data, size_t size,
                      char *err, size_t err_size)
{
    archive_entry_clear(e);
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)size);
    archive_entry_set_mtime(e, 0, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    if (archive_write_header(a, e) != ARCHIVE_OK ||
        (size > 0 && archive_write_data(a, data, size) != (la_ssize_t)size)) {
        snprintf(err, err_size, "tar member '%s': %s", name, archive_error_string(a));
        return -1;
    }
    return 0;
}

/* The .npy bytes of one clip in memory (open_memstream). malloc'd, NULL if out of memory. */
static char *npy_bytes(const afx_clip_out *c, size_t *size)
{
    char *buf = NULL;
    FILE *m = open_memstream(&buf, size);
    if (m == NULL)
        return NULL;
    int failed = afx_npy_fwrite(m, c->data, c->ndim, c->shape) != 0;
    if (fclose(m) != 0 || failed) {
        free(buf);
        return NULL;
    }
    return buf;
}

int afx_write_tar(const char *path, const afx_clip_out *clips, int64_t n, int64_t *bytes, char *err,
                  size_t err_size)
{
    afx_tmp t;
    if (afx_tmp_open(&t, path, err, err_size) != 0)
        return -1;
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    int status = 0;
    if (a == NULL || e == NULL || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK || archive_write_open_FILE(a, t.f) != ARCHIVE_OK) {
        snprintf(err, err_size, "cannot start tar '%s': %s", path, a ? archive_error_string(a) : "out of memory");
        status = -1;
    }
    for (int64_t i = 0; i < n && status == 0; i++) {
        const afx_clip_out *c = &clips[i];
        size_t len = strlen(c->key) + 8;
        char *name = malloc(len);
        size_t size = 0;
        char *npy = npy_bytes(c, &size);
        if (name == NULL || npy == NULL) {
            snprintf(err, err_size, "out of memory writing '%s'", path);
            status = -1;
        }
        if (status == 0) {
            snprintf(name, len, "%s.npy", c->key);
            status = tar_member(a, e, name, npy, size, err, err_size);
        }
        if (status == 0 && c->has_cls) {
            char cls[32];
            int m = snprintf(cls, sizeof cls, "%lld", c->cls);
            snprintf(name, len, "%s.cls", c->key);
            status = tar_member(a, e, name, cls, (size_t)m, err, err_size);
        }
        if (status == 0 && c->json != NULL) {
            snprintf(name, len, "%s.json", c->key);
            status = tar_member(a, e, name, c->json, strlen(c->json), err, err_size);
        }
        free(npy);
        free(name);
    }
    if (a != NULL && archive_write_close(a) != ARCHIVE_OK && status == 0) {
        snprintf(err, err_size, "cannot finish tar '%s': %s", path, archive_error_string(a));
        status = -1;
    }
    if (a != NULL)
        archive_write_free(a);
    archive_entry_free(e);
    if (status != 0) {
        afx_tmp_abort(&t);
        return -1;
    }
    if (afx_tmp_commit(&t, path, err, err_size) != 0)
        return -1;
    *bytes = file_size(path);
    return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Kaldi ark                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

/* Little-endian int32 preceded by its size byte, as Kaldi's WriteBasicType writes it in binary mode. */
static int put_int32(FILE *f, int64_t v)
{
    int32_t x = (int32_t)v;
    unsigned char b[5] = {4, (unsigned char)(x & 0xFF), (unsigned char)((x >> 8) & 0xFF),
                          (unsigned char)((x >> 16) & 0xFF), (unsigned char)((x >> 24) & 0xFF)};
    return fwrite(b, 1, 5, f) == 5 ? 0 : -1;
}

int afx_write_ark(const char *path, const afx_clip_out *clips, int64_t n, int64_t *offsets, int64_t *bytes,
                  char *err, size_t err_size)
{
    afx_tmp t;
    if (afx_tmp_open(&t, path, err, err_size) != 0)
        return -1;
    int failed = 0;
    float *row = NULL;
    size_t row_cap = 0;
    for (int64_t i = 0; i < n && !failed; i++) {
        const afx_clip_out *c = &clips[i];
        if (c->shape[0] > INT32_MAX || (c->ndim == 2 && c->shape[1] > INT32_MAX)) {
            snprintf(err, err_size, "%s: clip '%s' is too large for a Kaldi matrix", path, c->key);
            afx_tmp_abort(&t);
            free(row);
            return -1;
        }
        failed |= fprintf(t.f, "%s ", c->key) < 0;
        long pos = ftell(t.f);
        offsets[i] = pos;
        failed |= pos < 0 || fwrite("\0B", 1, 2, t.f) != 2;
        if (c->ndim == 1) {
            failed |= fwrite("FV ", 1, 3, t.f) != 3 || put_int32(t.f, c->shape[0]) != 0;
            failed |= c->shape[0] > 0 && fwrite(c->data, sizeof(float), (size_t)c->shape[0], t.f) != (size_t)c->shape[0];
            continue;
        }
        /* Kaldi rows are frames. */
        int64_t frames = c->transposed ? c->shape[1] : c->shape[0];
        int64_t feats = c->transposed ? c->shape[0] : c->shape[1];
        failed |= fwrite("FM ", 1, 3, t.f) != 3 || put_int32(t.f, frames) != 0 || put_int32(t.f, feats) != 0;
        if (!c->transposed) {
            size_t count = (size_t)(frames * feats);
            failed |= count > 0 && fwrite(c->data, sizeof(float), count, t.f) != count;
            continue;
        }
        if ((size_t)feats > row_cap) {
            float *r = realloc(row, sizeof(float) * (size_t)feats);
            if (r == NULL) {
                failed = 1;
                break;
            }
            row = r;
            row_cap = (size_t)feats;
        }
        for (int64_t fr = 0; fr < frames && !failed; fr++) {
            for (int64_t k = 0; k < feats; k++)
                row[k] = c->data[k * frames + fr];
            failed |= fwrite(row, sizeof(float), (size_t)feats, t.f) != (size_t)feats;
        }
    }
    free(row);
    if (failed) {
        snprintf(err, err_size, "cannot write '%s': %s", path, errno ? strerror(errno) : "write error");
        afx_tmp_abort(&t);
        return -1;
    }
    if (afx_tmp_commit(&t, path, err, err_size) != 0)
        return -1;
    *bytes = file_size(path);
    return 0;
}
