/*
 * afx_hd.h: lets one function body serve the CPU backend (C11) and CUDA kernels (nvcc).
 *
 * Every per-element formula of the pipeline (window values, mel scale and weights, log/dB, DCT, lifter,
 * normalization, the counter-based generator and mask draws) lives in a small header under kernels/<op>/
 * written with AFX_HD, so that the CPU reference and the GPU kernels compile the same source and cannot
 * drift apart. Headers must stay C11 and CUDA C compatible: no C++ features, no host-only libc calls
 * except <math.h>.
 */
#ifndef AFX_HD_H
#define AFX_HD_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define AFX_HD static inline __host__ __device__
#else
#define AFX_HD static inline
#endif

#define AFX_PI 3.14159265358979323846
#define AFX_SQRT2 1.41421356237309504880

#endif /* AFX_HD_H */
