/*
 * meta.c: what a run records besides the features, in JSON through jansson: params.json (afx version and
 * every parameter by name), the index (one line per clip), the Kaldi scp, the --report file, the
 * WebDataset .json member, and the fingerprint of the parameters.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "outfs.h"
#include "run.h"

/* Fields that never change the bytes of an output: how and where it is computed, not what. Results do not
 * depend on the batch size or threads (afx.h), and CUDA agrees with the CPU to float rounding. */
static int excluded_from_fingerprint(const char *name)
{
    return strcmp(name, "max_batch") == 0 || strcmp(name, "max_samples") == 0 || strcmp(name, "cpu_threads") == 0 ||
           strcmp(name, "backend") == 0 || strcmp(name, "cuda_device") == 0;
}

uint64_t afx_meta_fingerprint(const job_run *r)
{
    uint64_t h = afx_fnv_str(AFX_FNV_START, afx_version_string());
    for (int i = 0; afx_params_field_name(i) != NULL; i++) {
        const char *name = afx_params_field_name(i);
        char value[128];
        if (excluded_from_fingerprint(name) || afx_params_get(&r->params, name, value, sizeof value) != AFX_OK)
            continue;
        h = afx_fnv_str(afx_fnv_str(h, name), value);
    }
    h = afx_fnv_str(h, afx_job_format_name(r->cfg->format));
    if (r->cfg->format == AFX_JOB_WDS || r->cfg->format == AFX_JOB_ARK)
        h = afx_fnv(h, &r->cfg->shard_size, sizeof r->cfg->shard_size);
    return h;
}

/* A parameter's text as a JSON number when it is one, else a string. */
static json_t *param_value(const char *text)
{
    char *end = NULL;
    errno = 0;
    long long i = strtoll(text, &end, 10);
    if (*text && *end == '\0' && errno == 0)
        return json_integer((json_int_t)i);
    errno = 0;
    double d = strtod(text, &end);
    if (*text && *end == '\0' && errno == 0)
        return json_real(d);
    return json_string(text);
}

/* Writes a JSON value to OUTDIR/name (or an absolute/relative path when is_path) atomically. */
static int write_json(const char *path, json_t *v, size_t flags, char *err, size_t err_size)
{
    afx_tmp t;
    if (afx_tmp_open(&t, path, err, err_size) != 0)
        return -1;
    if (json_dumpf(v, t.f, flags) != 0 || fputc('\n', t.f) == EOF) {
        snprintf(err, err_size, "cannot write '%s'", path);
        afx_tmp_abort(&t);
        return -1;
    }
    return afx_tmp_commit(&t, path, err, err_size);
}

static char *out_path(const job_run *r, const char *name)
{
    char *p = NULL;
    return asprintf(&p, "%s/%s", r->cfg->outdir, name) < 0 ? NULL : p;
}

int afx_meta_write_params(const job_run *r, char *err, size_t err_size)
{
    json_t *o = json_object(), *params = json_object();
    for (int i = 0; afx_params_field_name(i) != NULL; i++) {
        const char *name = afx_params_field_name(i);
        char value[128];
        if (afx_params_get(&r->params, name, value, sizeof value) == AFX_OK)
            json_object_set_new(params, name, param_value(value));
    }
    json_object_set_new(o, "afx_version", json_string(afx_version_string()));
    json_object_set_new(o, "fingerprint", json_string(r->fp_hex));
    json_object_set_new(o, "format", json_string(afx_job_format_name(r->cfg->format)));
    if (r->cfg->format == AFX_JOB_WDS || r->cfg->format == AFX_JOB_ARK)
        json_object_set_new(o, "shard_size", json_integer((json_int_t)r->cfg->shard_size));
    json_object_set_new(o, "dtype", json_string("float32"));
    json_object_set_new(o, "n_features", json_integer(r->n_features));
    if (r->pooled_size > 0)
        json_object_set_new(o, "pooled_size", json_integer(r->pooled_size));
    const char *shape = r->pooled_size > 0 ? "(pooled_size,)"
                        : r->cfg->format == AFX_JOB_ARK ? "(n_frames, n_features)"
                        : r->params.layout == AFX_LAYOUT_TF ? "(n_frames, n_features)"
                                                            : "(n_features, n_frames)";
    json_object_set_new(o, "clip_shape", json_string(r->cfg->format == AFX_JOB_TABLE ? "(n_clips, pooled_size)" : shape));
    json_object_set_new(o, "params", params);
    char *path = out_path(r, "params.json");
    int status = path ? write_json(path, o, JSON_INDENT(2) | JSON_PRESERVE_ORDER, err, err_size) : -1;
    free(path);
    json_decref(o);
    return status;
}

/* Adds the item's own fields (id, path, label, offset, duration, meta) to o. */
static void add_item_fields(json_t *o, const afx_job_item *it)
{
    json_object_set_new(o, "id", json_string(it->key));
    json_object_set_new(o, "path", json_string(it->path));
    if (it->label_json != NULL)
        json_object_set_new(o, "label", json_loads(it->label_json, JSON_DECODE_ANY, NULL));
    if (it->offset > 0.0)
        json_object_set_new(o, "offset", json_real(it->offset));
    if (it->duration > 0.0)
        json_object_set_new(o, "duration", json_real(it->duration));
    if (it->meta_json != NULL)
        json_object_set_new(o, "meta", json_loads(it->meta_json, 0, NULL));
}

static json_t *shape_json(const job_run *r, int64_t n_frames)
{
    int64_t shape[2];
    int transposed = 0;
    int ndim = afx_run_clip_shape(r, n_frames, shape, &transposed);
    if (r->cfg->format == AFX_JOB_ARK && transposed) { /* the ark holds (n_frames, n_features) */
        int64_t t = shape[0];
        shape[0] = shape[1];
        shape[1] = t;
    }
    json_t *a = json_array();
    for (int d = 0; d < ndim; d++)
        json_array_append_new(a, json_integer((json_int_t)shape[d]));
    return a;
}

char *afx_meta_clip_json(const job_run *r, const afx_job_item *it, int64_t n_frames)
{
    json_t *o = json_object();
    add_item_fields(o, it);
    json_object_set_new(o, "index", json_integer((json_int_t)it->index));
    json_object_set_new(o, "n_frames", json_integer((json_int_t)n_frames));
    json_object_set_new(o, "shape", shape_json(r, n_frames));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

/* Name of a per-shard file: "<stem><suffix>.<ext>". malloc'd. */
static char *shard_file(const job_run *r, const char *stem, const char *ext)
{
    char *p = NULL;
    return asprintf(&p, "%s/%s%s.%s", r->cfg->outdir, stem, r->suffix, ext) < 0 ? NULL : p;
}

int afx_meta_write_index(job_run *r, char *err, size_t err_size)
{
    char *path = shard_file(r, "index", "jsonl");
    char *table = r->cfg->format == AFX_JOB_TABLE ? shard_file(r, "table", "npy") : NULL;
    afx_tmp t;
    if (path == NULL || afx_tmp_open(&t, path, err, err_size) != 0) {
        free(path);
        free(table);
        return -1;
    }
    const char *table_name = table ? strrchr(table, '/') + 1 : NULL;
    int failed = 0;
    for (int64_t i = r->lo; i < r->hi && !failed; i++) {
        const afx_job_item *it = &r->items.v[i];
        const clip_state *c = run_clip(r, i);
        const unit_state *u = &r->units[(i - r->lo) / r->clips_per_unit];
        json_t *o = json_object();
        json_object_set_new(o, "index", json_integer((json_int_t)i));
        add_item_fields(o, it);
        int ok = c->status == CLIP_OK || c->status == CLIP_SKIPPED;
        json_object_set_new(o, "status", json_string(ok ? "ok" : "error"));
        if (ok) {
            if (c->status == CLIP_SKIPPED)
                json_object_set_new(o, "skipped", json_true());
            json_object_set_new(o, "n_frames", json_integer((json_int_t)c->n_frames));
            json_object_set_new(o, "shape", shape_json(r, c->n_frames));
            switch (r->cfg->format) {
            case AFX_JOB_NPY: json_object_set_new(o, "output", json_string(u->name)); break;
            case AFX_JOB_WDS:
                json_object_set_new(o, "output", json_string(u->name));
                json_object_set_new(o, "key", json_string(it->key));
                break;
            case AFX_JOB_ARK: {
                char *loc = NULL;
                if (asprintf(&loc, "%s:%" PRId64, u->name, c->ark_offset) >= 0)
                    json_object_set_new(o, "output", json_string(loc));
                free(loc);
                break;
            }
            case AFX_JOB_TABLE:
                json_object_set_new(o, "output", json_string(table_name));
                json_object_set_new(o, "row", json_integer((json_int_t)c->row));
                break;
            }
        } else {
            json_object_set_new(o, "error", json_string(c->error ? c->error : it->error ? it->error : "failed"));
        }
        failed = json_dumpf(o, t.f, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0 || fputc('\n', t.f) == EOF;
        json_decref(o);
    }
    int status;
    if (failed) {
        snprintf(err, err_size, "cannot write '%s'", path);
        afx_tmp_abort(&t);
        status = -1;
    } else {
        status = afx_tmp_commit(&t, path, err, err_size);
    }
    free(path);
    free(table);
    return status;
}

int afx_meta_write_scp(job_run *r, char *err, size_t err_size)
{
    char *path = shard_file(r, "feats", "scp");
    afx_tmp t;
    if (path == NULL || afx_tmp_open(&t, path, err, err_size) != 0) {
        free(path);
        return -1;
    }
    int failed = 0;
    for (int64_t i = r->lo; i < r->hi && !failed; i++) {
        const clip_state *c = run_clip(r, i);
        if (c->status != CLIP_OK && c->status != CLIP_SKIPPED)
            continue;
        const unit_state *u = &r->units[(i - r->lo) / r->clips_per_unit];
        failed = fprintf(t.f, "%s %s/%s:%" PRId64 "\n", r->items.v[i].key, r->outdir_abs, u->name, c->ark_offset) < 0;
    }
    int status;
    if (failed) {
        snprintf(err, err_size, "cannot write '%s'", path);
        afx_tmp_abort(&t);
        status = -1;
    } else {
        status = afx_tmp_commit(&t, path, err, err_size);
    }
    free(path);
    return status;
}

int afx_meta_write_report(job_run *r, double wall, char *err, size_t err_size)
{
    const afx_job_config *cfg = r->cfg;
    json_t *o = json_object(), *counts = json_object(), *failed = json_array(), *shard = json_object();
    json_object_set_new(o, "afx_version", json_string(afx_version_string()));
    json_object_set_new(o, "output", json_string(cfg->outdir));
    json_object_set_new(o, "format", json_string(afx_job_format_name(cfg->format)));
    json_object_set_new(o, "backend", json_string(afx_backend_name(r->backend)));
    json_object_set_new(o, "jobs", json_integer(cfg->jobs));
    json_object_set_new(shard, "index", json_integer(cfg->shard_index));
    json_object_set_new(shard, "count", json_integer(cfg->shard_count));
    if (cfg->shard_origin)
        json_object_set_new(shard, "from", json_string(cfg->shard_origin));
    json_object_set_new(o, "shard", shard);
    json_object_set_new(counts, "clips", json_integer((json_int_t)(r->hi - r->lo)));
    json_object_set_new(counts, "ok", json_integer((json_int_t)r->n_ok));
    json_object_set_new(counts, "failed", json_integer((json_int_t)r->n_failed));
    json_object_set_new(counts, "skipped", json_integer((json_int_t)r->n_skipped));
    json_object_set_new(o, "counts", counts);
    json_object_set_new(o, "wall_seconds", json_real(wall));
    json_object_set_new(o, "audio_seconds", json_real(r->audio_seconds));
    json_object_set_new(o, "clips_per_second", json_real(wall > 0 ? (double)r->n_ok / wall : 0.0));
    json_object_set_new(o, "audio_hours_per_second", json_real(wall > 0 ? r->audio_seconds / 3600.0 / wall : 0.0));
    for (int64_t i = r->lo; i < r->hi; i++) {
        const clip_state *c = run_clip(r, i);
        if (c->status != CLIP_FAILED)
            continue;
        const afx_job_item *it = &r->items.v[i];
        json_t *f = json_object();
        json_object_set_new(f, "index", json_integer((json_int_t)i));
        json_object_set_new(f, "id", json_string(it->key));
        json_object_set_new(f, "path", json_string(it->path));
        json_object_set_new(f, "error", json_string(c->error ? c->error : "failed"));
        json_array_append_new(failed, f);
    }
    json_object_set_new(o, "failed", failed);
    int status = write_json(cfg->report_path, o, JSON_INDENT(2) | JSON_PRESERVE_ORDER, err, err_size);
    json_decref(o);
    return status;
}
