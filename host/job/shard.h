/*
 * shard.h: splitting a job across independent processes (`--shard i/n`, Slurm job arrays, Kubernetes
 * Indexed Jobs).
 *
 * A job's work is a list of units in input order: one clip each for npy and table output, one tar / ark
 * file of --shard-size clips for wds and ark. Shard i of n owns the contiguous units
 * [floor(i*U/n), floor((i+1)*U/n)): deterministic, balanced to one unit, and the same file boundaries as a
 * single-process run, so the union of the n shards' outputs is exactly the single run's output.
 */
#ifndef AFX_JOB_SHARD_H
#define AFX_JOB_SHARD_H

#include <stdint.h>

/* Parses "I/N" (0 <= I < N, N >= 1). 0, or -1 after printing why. */
int afx_shard_parse(const char *spec, int *index, int *count);

/*
 * When no --shard was given: from SLURM_ARRAY_TASK_ID (minus SLURM_ARRAY_TASK_MIN, divided by
 * SLURM_ARRAY_TASK_STEP) of SLURM_ARRAY_TASK_COUNT, else JOB_COMPLETION_INDEX of `count_hint` (--shards N;
 * Kubernetes does not export the count). Without either, 0 of 1. *origin names the source for messages.
 * 0, or -1 after printing why (a malformed variable, an index out of range, JOB_COMPLETION_INDEX without
 * --shards).
 */
int afx_shard_from_env(int count_hint, int *index, int *count, const char **origin);

/* Units [*lo, *hi) of shard `index` of `count` among `units`. */
void afx_shard_range(int64_t units, int index, int count, int64_t *lo, int64_t *hi);

#endif /* AFX_JOB_SHARD_H */
