/*
 * run.h: the state of one running job, shared by runner.c (threads and batches), meta.c (params.json,
 * index, report) and progress.c. Not an API: the CLI only sees job.h.
 */
#ifndef AFX_JOB_RUN_H
#define AFX_JOB_RUN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "afx.h"
#include "items.h"
#include "job.h"
#include "journal.h"

/* What happened to one clip of this shard. */
typedef enum clip_status { CLIP_TODO = 0, CLIP_OK = 1, CLIP_FAILED = 2, CLIP_SKIPPED = 3 } clip_status;

typedef struct clip_state {
    clip_status status;
    int64_t n_frames;   /* frames (pooled: of the clip before pooling), -1 when failed */
    int64_t ark_offset; /* ark: offset of "\0B" in its ark file */
    int64_t row;        /* table: row in the table file, -1 if none */
    double seconds;     /* audio seconds computed (0 when skipped or failed) */
    char *error;        /* why it failed (malloc'd) */
    float *features;    /* wds/ark/table: the clip's features until its unit is written */
} clip_state;

/* An output file and the clips that go into it. */
typedef struct unit_state {
    int64_t first, count; /* clips [first, first + count) (global indices) */
    int64_t pending;      /* clips not yet computed or failed */
    int failed;           /* a clip failed: written, but not recorded as complete */
    int skipped;          /* complete from an earlier run */
    uint64_t ih;          /* hash of its inputs */
    char *name;           /* file name relative to OUTDIR */
} unit_state;

typedef struct job_run {
    const afx_job_config *cfg;
    afx_params params;          /* validated user parameters (max_batch = batch size) */
    afx_job_items items;
    int64_t lo, hi;             /* clips of this shard (global indices) */
    clip_state *clips;          /* [hi - lo] */
    unit_state *units;
    int64_t n_units;
    int64_t clips_per_unit;     /* 1 for npy, shard_size for wds/ark, all for table */
    int n_features;             /* values per frame */
    int pooled_size;            /* values per pooled clip (0 without pooling) */
    afx_backend backend;        /* resolved */
    uint64_t fp;                /* fingerprint of everything that determines the outputs' bytes */
    char fp_hex[17];
    afx_journal journal;
    char *outdir_abs;           /* absolute OUTDIR (ark paths in the scp) */
    int lock_fd;                /* the run lock of OUTDIR (outfs.h), 0 before it is taken */
    const char *suffix;         /* "" or "-00002-of-00004" for the index, scp and table of a shard */

    pthread_mutex_t mu;         /* guards everything below and the unit/clip states while running */
    pthread_cond_t cv;
    int64_t n_todo, next_todo;  /* positions in todo[] handed out */
    int64_t *todo;              /* global indices of the clips to compute, ascending */
    int64_t n_ok, n_failed, n_skipped, n_done;
    double audio_seconds;
    int workers_left;
    double t_start;
} job_run;

/* Clip state of global index i. */
static inline clip_state *run_clip(job_run *r, int64_t i) { return &r->clips[i - r->lo]; }

/* Output shape of a clip with n_frames frames in the job's format: returns ndim. transposed = layout ft. */
int afx_run_clip_shape(const job_run *r, int64_t n_frames, int64_t shape[2], int *transposed);

/* units.c: a clip's result to its output (r->mu NOT held by the caller) */
void afx_run_fail_clip(job_run *r, int64_t i, const char *msg);      /* msg names the input, or gets its path */
void afx_run_deliver(job_run *r, int64_t i, const float *clip, int64_t frames_stride, int64_t n_frames,
                     double seconds, float **scratch, size_t *scratch_cap); /* clip: in a batch output */
void afx_run_write_unit(job_run *r, unit_state *u);                  /* when its last clip is done */
uint64_t afx_run_unit_hash(const job_run *r, const unit_state *u);   /* hash of the unit's inputs */
char *afx_run_unit_path(const job_run *r, const unit_state *u);      /* OUTDIR/name, malloc'd */
unit_state *afx_run_unit_of(job_run *r, int64_t i);
int afx_run_reserve(float **buf, size_t *cap, size_t n);             /* grow to n floats: 0 or -1 */

/* compute.c */
int64_t afx_run_initial_max_samples(const afx_params *p); /* the first plans' max_samples */
int afx_run_threads(job_run *r); /* runs the todo list; 0, or -1 when the threads could not be set up */

/* meta.c */
int afx_meta_write_params(const job_run *r, char *err, size_t err_size);
int afx_meta_write_index(job_run *r, char *err, size_t err_size);
int afx_meta_write_scp(job_run *r, char *err, size_t err_size);
int afx_meta_write_report(job_run *r, double wall, char *err, size_t err_size);
char *afx_meta_clip_json(const job_run *r, const afx_job_item *it, int64_t n_frames); /* wds .json text */
uint64_t afx_meta_fingerprint(const job_run *r);

/* progress.c */
double afx_now(void);
void afx_progress_start(job_run *r);
void afx_progress_tick(job_run *r, int final);   /* called with r->mu held */
void afx_progress_message(job_run *r, const char *line); /* prints a line above the bar; r->mu held */

#endif /* AFX_JOB_RUN_H */
