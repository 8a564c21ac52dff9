/*
 * units.c: what happens to each clip's result: its features go to its output unit (one .npy written at
 * once; tar, ark and table files written by the thread that completes their last clip), its failure is
 * printed and counted; a complete unit is recorded in the journal.
 */
#define _GNU_SOURCE

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "writers.h"

static void one_line(char *msg)
{
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
}

int afx_run_clip_shape(const job_run *r, int64_t n_frames, int64_t shape[2], int *transposed)
{
    *transposed = 0;
    if (r->pooled_size > 0) {
        shape[0] = r->pooled_size;
        return 1;
    }
    if (r->cfg->format == AFX_JOB_ARK || r->params.layout == AFX_LAYOUT_TF) {
        shape[0] = n_frames;
        shape[1] = r->n_features;
        /* ark with layout ft: the data stays (features, frames); the writer transposes */
        if (r->cfg->format == AFX_JOB_ARK && r->params.layout != AFX_LAYOUT_TF) {
            shape[0] = r->n_features;
            shape[1] = n_frames;
            *transposed = 1;
        }
        return 2;
    }
    shape[0] = r->n_features;
    shape[1] = n_frames;
    *transposed = 1;
    return 2;
}

/* ---------------------------------------------------------------------------------------------- */
/* Clip results and output units                                                                  */
/* ---------------------------------------------------------------------------------------------- */

unit_state *afx_run_unit_of(job_run *r, int64_t i) { return &r->units[(i - r->lo) / r->clips_per_unit]; }

/* Path of a unit's file. malloc'd. */
char *afx_run_unit_path(const job_run *r, const unit_state *u)
{
    char *p = NULL;
    return asprintf(&p, "%s/%s", r->cfg->outdir, u->name) < 0 ? NULL : p;
}

void afx_run_write_unit(job_run *r, unit_state *u);
int afx_run_reserve(float **buf, size_t *cap, size_t n);

/* Marks clip i failed with `msg` (which names the input, or gets its path prepended). r->mu NOT held. */
void afx_run_fail_clip(job_run *r, int64_t i, const char *msg)
{
    const afx_job_item *it = &r->items.v[i];
    char *text = NULL;
    if (strstr(msg, it->path) != NULL || it->path[0] == '\0') {
        text = strdup(msg);
    } else if (asprintf(&text, "%s: %s", it->path, msg) < 0) {
        text = NULL;
    }
    if (text != NULL)
        one_line(text);
    unit_state *u = afx_run_unit_of(r, i);
    int write = 0;
    pthread_mutex_lock(&r->mu);
    clip_state *c = run_clip(r, i);
    free(c->error);
    c->error = text;
    c->status = CLIP_FAILED;
    c->n_frames = -1;
    free(c->features);
    c->features = NULL;
    r->n_failed++;
    r->n_done++;
    u->failed = 1;
    if (r->cfg->format != AFX_JOB_NPY)
        write = --u->pending == 0;
    char line[AFX_ERROR_MAX + 1200];
    snprintf(line, sizeof line, "afx: failed: %s", text ? text : "out of memory");
    afx_progress_message(r, line); /* failures are printed even with -q */
    pthread_mutex_unlock(&r->mu);
    if (write)
        afx_run_write_unit(r, u);
}

/* The unit's input hash: every input field that ends up in its file. */
uint64_t afx_run_unit_hash(const job_run *r, const unit_state *u)
{
    uint64_t h = AFX_FNV_START;
    for (int64_t i = u->first; i < u->first + u->count; i++) {
        const afx_job_item *it = &r->items.v[i];
        h = afx_fnv(h, &it->index, sizeof it->index);
        h = afx_fnv_str(h, it->path);
        h = afx_fnv_str(h, it->key);
        h = afx_fnv(h, &it->offset, sizeof it->offset);
        h = afx_fnv(h, &it->duration, sizeof it->duration);
        h = afx_fnv_str(h, it->label_json);
        h = afx_fnv_str(h, it->meta_json);
    }
    return h;
}

/* Writes a wds/ark/table unit once all its clips are computed or failed; records it when complete. */
void afx_run_write_unit(job_run *r, unit_state *u)
{
    char err[AFX_ERROR_MAX + 512] = "";
    afx_clip_out *outs = calloc((size_t)(u->count > 0 ? u->count : 1), sizeof *outs);
    int64_t *offsets = calloc((size_t)(u->count > 0 ? u->count : 1), sizeof *offsets);
    int64_t *frames = calloc((size_t)(u->count > 0 ? u->count : 1), sizeof *frames);
    int64_t *which = calloc((size_t)(u->count > 0 ? u->count : 1), sizeof *which);
    char *path = afx_run_unit_path(r, u);
    int64_t n = 0, bytes = 0;
    int status = (outs && offsets && frames && which && path) ? 0 : -1;
    if (status != 0)
        snprintf(err, sizeof err, "out of memory");
    float *table = NULL;
    for (int64_t i = u->first; i < u->first + u->count && status == 0; i++) {
        clip_state *c = run_clip(r, i);
        frames[i - u->first] = c->n_frames;
        if (c->status != CLIP_OK)
            continue;
        afx_clip_out *o = &outs[n];
        o->key = r->items.v[i].key;
        o->data = c->features;
        o->ndim = afx_run_clip_shape(r, c->n_frames, o->shape, &o->transposed);
        if (r->cfg->format == AFX_JOB_WDS) {
            o->json = afx_meta_clip_json(r, &r->items.v[i], c->n_frames);
            o->has_cls = afx_job_item_int_label(&r->items.v[i], &o->cls);
        }
        which[n++] = i;
    }
    if (status == 0 && r->cfg->format == AFX_JOB_TABLE) {
        int64_t shape[2] = {n, r->pooled_size};
        table = malloc(sizeof(float) * (size_t)(n * r->pooled_size > 0 ? n * r->pooled_size : 1));
        if (table == NULL) {
            snprintf(err, sizeof err, "out of memory for the table");
            status = -1;
        }
        for (int64_t k = 0; k < n && status == 0; k++) {
            memcpy(table + k * r->pooled_size, outs[k].data, sizeof(float) * (size_t)r->pooled_size);
            run_clip(r, which[k])->row = k;
        }
        if (status == 0)
            status = afx_write_npy_file(path, table, 2, shape, &bytes, err, sizeof err);
    } else if (status == 0 && r->cfg->format == AFX_JOB_WDS) {
        status = afx_write_tar(path, outs, n, &bytes, err, sizeof err);
    } else if (status == 0 && r->cfg->format == AFX_JOB_ARK) {
        status = afx_write_ark(path, outs, n, offsets, &bytes, err, sizeof err);
        for (int64_t k = 0; k < n && status == 0; k++)
            run_clip(r, which[k])->ark_offset = offsets[k];
    }
    free(table);
    for (int64_t k = 0; k < n; k++) {
        free((char *)outs[k].json);
        clip_state *c = run_clip(r, which[k]);
        free(c->features);
        c->features = NULL;
    }
    if (status == 0 && !u->failed) {
        int64_t *all_offsets = NULL;
        if (r->cfg->format == AFX_JOB_ARK) {
            all_offsets = calloc((size_t)u->count, sizeof *all_offsets);
            for (int64_t i = u->first; all_offsets && i < u->first + u->count; i++)
                all_offsets[i - u->first] = run_clip(r, i)->ark_offset;
        }
        if (r->cfg->format != AFX_JOB_ARK || all_offsets != NULL)
            afx_journal_append(&r->journal, u->name, r->fp, u->ih, bytes, u->count, frames, all_offsets);
        free(all_offsets);
    }
    if (status != 0) {
        /* Nothing of the unit was written: its computed clips fail with the reason. */
        for (int64_t k = 0; k < n; k++) {
            pthread_mutex_lock(&r->mu);
            clip_state *c = run_clip(r, which[k]);
            c->status = CLIP_TODO;
            r->n_ok--;
            r->n_done--;
            pthread_mutex_unlock(&r->mu);
            afx_run_fail_clip(r, which[k], err);
        }
    }
    free(outs);
    free(offsets);
    free(frames);
    free(which);
    free(path);
}

/*
 * Takes clip i's computed features (`clip` points into a batch output with frames_stride frames) to its
 * output. `scratch` is the caller's buffer for the compact copy.
 */
void afx_run_deliver(job_run *r, int64_t i, const float *clip, int64_t frames_stride, int64_t n_frames,
                    double seconds, float **scratch, size_t *scratch_cap)
{
    int64_t shape[2];
    int transposed = 0;
    int ndim = afx_run_clip_shape(r, n_frames, shape, &transposed);
    size_t count = ndim == 1 ? (size_t)shape[0] : (size_t)(shape[0] * shape[1]);
    const float *data = clip;
    int keep = r->cfg->format != AFX_JOB_NPY;
    float *copy = NULL;
    if (keep || (ndim == 2 && transposed)) {
        if (keep) {
            copy = malloc(sizeof(float) * (count > 0 ? count : 1));
        } else {
            if (afx_run_reserve(scratch, scratch_cap, count) == 0)
                copy = *scratch;
        }
        if (copy == NULL) {
            afx_run_fail_clip(r, i, "out of memory for the clip's features");
            return;
        }
        if (ndim == 2 && transposed) { /* [nf][frames_stride] -> [nf][n_frames] */
            for (int64_t f = 0; f < r->n_features; f++)
                memcpy(copy + f * n_frames, clip + f * frames_stride, sizeof(float) * (size_t)n_frames);
        } else if (count > 0) {
            memcpy(copy, clip, sizeof(float) * count);
        }
        data = copy;
    }
    if (!keep) {
        unit_state *u = afx_run_unit_of(r, i);
        char err[AFX_ERROR_MAX + 512];
        char *path = afx_run_unit_path(r, u);
        int64_t bytes = 0;
        int status = path ? afx_write_npy_file(path, data, ndim, shape, &bytes, err, sizeof err) : -1;
        if (path == NULL)
            snprintf(err, sizeof err, "out of memory");
        free(path);
        if (status != 0) {
            afx_run_fail_clip(r, i, err);
            return;
        }
        afx_journal_append(&r->journal, u->name, r->fp, u->ih, bytes, 1, &n_frames, NULL);
        pthread_mutex_lock(&r->mu);
        clip_state *c = run_clip(r, i);
        c->status = CLIP_OK;
        c->n_frames = n_frames;
        c->seconds = seconds;
        r->n_ok++;
        r->n_done++;
        r->audio_seconds += seconds;
        pthread_mutex_unlock(&r->mu);
        return;
    }
    unit_state *u = afx_run_unit_of(r, i);
    pthread_mutex_lock(&r->mu);
    clip_state *c = run_clip(r, i);
    c->status = CLIP_OK;
    c->n_frames = n_frames;
    c->seconds = seconds;
    c->features = copy;
    r->n_ok++;
    r->n_done++;
    r->audio_seconds += seconds;
    int write = --u->pending == 0;
    pthread_mutex_unlock(&r->mu);
    if (write)
        afx_run_write_unit(r, u);
}

int afx_run_reserve(float **buf, size_t *cap, size_t n)
{
    if (n == 0)
        n = 1;
    if (n <= *cap)
        return 0;
    float *p = realloc(*buf, n * sizeof(float));
    if (p == NULL)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}
