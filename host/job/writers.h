/*
 * writers.h: the output formats of a job, each written whole to a temporary file and renamed (outfs.h).
 *
 *   npy    one .npy (float32, C order) per clip: (n_features, n_frames) for layout ft, (n_frames, n_features)
 *          for tf, (n_values,) pooled
 *   tar    a WebDataset shard (POSIX pax tar, libarchive): per clip "<key>.npy", "<key>.json" (id, path,
 *          label, offset, duration, carried columns, n_frames, shape) and "<key>.cls" (the label, when it is
 *          an integer), in clip order; fixed owner and mtime 0, so the same clips give the same bytes
 *   ark    a Kaldi binary archive: per clip "<key> \0B" then a float matrix "FM " rows cols (rows = frames,
 *          Kaldi's orientation, whatever the layout) or a vector "FV " dim when pooled (Kaldi's
 *          base/io-funcs and matrix/kaldi-matrix.cc binary format, as kaldiio reads it)
 */
#ifndef AFX_JOB_WRITERS_H
#define AFX_JOB_WRITERS_H

#include <stddef.h>
#include <stdint.h>

/* One clip's features in the npy orientation of the job (see above). */
typedef struct afx_clip_out {
    const char *key;
    const float *data;
    int ndim;            /* 1 pooled, 2 otherwise */
    int64_t shape[2];
    int transposed;      /* 1: data is (n_features, n_frames) (layout ft); ark writes (n_frames, n_features) */
    const char *json;    /* wds: the .json member text (NULL: none) */
    int has_cls;         /* wds: write "<key>.cls" with `cls` */
    long long cls;
} afx_clip_out;

/* Writes one .npy file at `path`. 0, or -1 with err. *bytes gets the file size. */
int afx_write_npy_file(const char *path, const float *data, int ndim, const int64_t *shape, int64_t *bytes,
                       char *err, size_t err_size);

/* Writes a WebDataset tar of n clips at `path`. 0 or -1 with err; *bytes gets the file size. */
int afx_write_tar(const char *path, const afx_clip_out *clips, int64_t n, int64_t *bytes, char *err,
                  size_t err_size);

/* Writes a Kaldi ark of n clips at `path`; offsets[i] gets the byte offset of clip i's "\0B" (what an
 * scp line "key path:offset" names). 0 or -1 with err; *bytes gets the file size. */
int afx_write_ark(const char *path, const afx_clip_out *clips, int64_t n, int64_t *offsets, int64_t *bytes,
                  char *err, size_t err_size);

#endif /* AFX_JOB_WRITERS_H */
