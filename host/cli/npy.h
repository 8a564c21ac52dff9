/*
 * npy.h: write float32 arrays as NumPy .npy files (format version 1.0).
 *
 * Layout written (see numpy.lib.format):
 *   "\x93NUMPY" | major 1 | minor 0 | uint16 little-endian HEADER_LEN | header | data
 * where header is the ASCII dict
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (d0, d1, ...), }
 * padded with spaces and terminated by '\n' so that 10 + HEADER_LEN is a multiple of 64, and data is
 * the array in C (row-major) order as little-endian float32, whatever the host byte order.
 */
#ifndef AFX_CLI_NPY_H
#define AFX_CLI_NPY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** Largest number of dimensions afx_npy_write accepts. */
#define AFX_NPY_MAX_DIMS 8

/**
 * Writes `data` (C order, prod(shape) floats; may be NULL when that product is 0) to `path` as a
 * .npy file with the given shape (0 <= ndim <= AFX_NPY_MAX_DIMS, every shape[i] >= 0). The file is
 * created or truncated; the caller makes the write atomic (write a temporary name, then rename).
 * Returns 0 on success; on failure returns -1, writes a one-line message naming `path` into `err`
 * (may be NULL) and removes the partially written file.
 */
int afx_npy_write(const char *path, const float *data, int ndim, const int64_t *shape, char *err,
                  size_t err_size);

/**
 * Writes the same bytes as afx_npy_write to an open stream (a temporary file, a memory stream); the caller
 * owns and closes `f`. Returns 0, or -1 for an invalid shape (errno = EINVAL) or a failed write.
 */
int afx_npy_fwrite(FILE *f, const float *data, int ndim, const int64_t *shape);

/** Size in bytes of the .npy file of a float32 array of that shape (header + data); 0 if the shape is invalid. */
uint64_t afx_npy_file_size(int ndim, const int64_t *shape);

/**
 * Formats the complete .npy preamble (magic, version, length, padded header dict) for a float32 array
 * of the given shape into `buf`. Returns its length in bytes (a multiple of 64), or 0 if the shape is
 * invalid or `buf_size` is too small. Exposed for tests.
 */
size_t afx_npy_header(char *buf, size_t buf_size, int ndim, const int64_t *shape);

/**
 * Same for an array of another NumPy type: `descr` is its dtype string, e.g. "<f4" (float32) or "<f2"
 * (float16, for 16-bit output). Returns 0 if `descr` is not 2..8 printable characters without quotes.
 */
size_t afx_npy_header_descr(char *buf, size_t buf_size, const char *descr, int ndim, const int64_t *shape);

#endif /* AFX_CLI_NPY_H */
