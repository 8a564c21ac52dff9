/*
 * shard.c: --shard i/n and the array-job environment variables (shard.h).
 */
#include "shard.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses a whole non-negative decimal int. 1 on success. */
static int parse_nonneg(const char *s, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = (*s >= '0' && *s <= '9') ? strtol(s, &end, 10) : -1;
    if (end == NULL || end == s || *end != '\0' || errno == ERANGE || v < 0 || v > INT_MAX)
        return 0;
    *out = (int)v;
    return 1;
}

int afx_shard_parse(const char *spec, int *index, int *count)
{
    const char *slash = strchr(spec, '/');
    char head[32];
    size_t n = slash ? (size_t)(slash - spec) : 0;
    int i = 0, c = 0;
    if (slash == NULL || n == 0 || n >= sizeof head) {
        fprintf(stderr, "afx: --shard: '%s' is not I/N (e.g. 0/4: the first of four shards)\n", spec);
        return -1;
    }
    memcpy(head, spec, n);
    head[n] = '\0';
    if (!parse_nonneg(head, &i) || !parse_nonneg(slash + 1, &c) || c < 1 || i >= c) {
        fprintf(stderr, "afx: --shard: '%s' is not I/N with 0 <= I < N\n", spec);
        return -1;
    }
    *index = i;
    *count = c;
    return 0;
}

/* Reads an environment variable as a non-negative int: 1 found, 0 absent, -1 malformed (printed). */
static int env_int(const char *name, int *out)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return 0;
    if (!parse_nonneg(v, out)) {
        fprintf(stderr, "afx: %s='%s' is not a non-negative integer\n", name, v);
        return -1;
    }
    return 1;
}

int afx_shard_from_env(int count_hint, int *index, int *count, const char **origin)
{
    int id = 0, n = 0, min = 0, step = 1;
    int has_id = env_int("SLURM_ARRAY_TASK_ID", &id);
    int has_n = env_int("SLURM_ARRAY_TASK_COUNT", &n);
    if (has_id < 0 || has_n < 0 || env_int("SLURM_ARRAY_TASK_MIN", &min) < 0 ||
        env_int("SLURM_ARRAY_TASK_STEP", &step) < 0)
        return -1;
    if (has_id > 0 && has_n > 0) {
        if (step < 1)
            step = 1;
        int i = (id - min) / step;
        if (count_hint > 0 && count_hint != n) {
            fprintf(stderr, "afx: --shards %d differs from SLURM_ARRAY_TASK_COUNT=%d\n", count_hint, n);
            return -1;
        }
        if (id < min || (id - min) % step != 0 || i >= n) {
            fprintf(stderr,
                    "afx: SLURM_ARRAY_TASK_ID=%d does not fit SLURM_ARRAY_TASK_MIN=%d, STEP=%d, COUNT=%d (give "
                    "--shard I/N)\n",
                    id, min, step, n);
            return -1;
        }
        *index = i;
        *count = n;
        *origin = "SLURM_ARRAY_TASK_ID";
        return 0;
    }
    int k = 0;
    int has_k = env_int("JOB_COMPLETION_INDEX", &k);
    if (has_k < 0)
        return -1;
    if (has_k > 0) {
        if (count_hint < 1) {
            fprintf(stderr, "afx: JOB_COMPLETION_INDEX=%d is set: give the number of shards with --shards N (the "
                            "Job's completions)\n",
                    k);
            return -1;
        }
        if (k >= count_hint) {
            fprintf(stderr, "afx: JOB_COMPLETION_INDEX=%d is not below --shards %d\n", k, count_hint);
            return -1;
        }
        *index = k;
        *count = count_hint;
        *origin = "JOB_COMPLETION_INDEX";
        return 0;
    }
    if (count_hint > 1) {
        fprintf(stderr, "afx: --shards %d needs SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX (or give --shard I/N)\n",
                count_hint);
        return -1;
    }
    *index = 0;
    *count = 1;
    *origin = NULL;
    return 0;
}

void afx_shard_range(int64_t units, int index, int count, int64_t *lo, int64_t *hi)
{
    /* floor(i * U / n) without overflow for any U < 2^62 and n < 2^31. */
    *lo = (units / count) * index + (units % count) * index / count;
    *hi = (units / count) * (index + 1) + (units % count) * (index + 1) / count;
}
