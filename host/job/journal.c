/*
 * journal.c: restart records (journal.h), JSON lines read and written with jansson.
 */
#define _GNU_SOURCE

#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outfs.h"

uint64_t afx_fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t afx_fnv_str(uint64_t h, const char *s) { return s ? afx_fnv(h, s, strlen(s) + 1) : afx_fnv(h, "\1", 1); }

static void free_rec(afx_journal_rec *r)
{
    free(r->unit);
    free(r->n_frames);
    free(r->offsets);
}

/* Parses a hex 64-bit value. 1 on success. */
static int hex64(const char *s, uint64_t *out)
{
    if (s == NULL || strlen(s) != 16)
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 16);
    if (*end != '\0' || errno != 0)
        return 0;
    *out = (uint64_t)v;
    return 1;
}

/* Reads an int64 array of length n from a JSON array. malloc'd or NULL. */
static int64_t *int_array(json_t *a, int64_t n)
{
    if (!json_is_array(a) || (int64_t)json_array_size(a) != n)
        return NULL;
    int64_t *v = malloc(sizeof *v * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; v != NULL && i < n; i++) {
        json_t *x = json_array_get(a, (size_t)i);
        if (!json_is_integer(x)) {
            free(v);
            return NULL;
        }
        v[i] = (int64_t)json_integer_value(x);
    }
    return v;
}

/* Adds the record of one line, if it is a complete, well-formed record. -1 only when out of memory. */
static int add_line(afx_journal *j, const char *line)
{
    json_t *o = json_loads(line, 0, NULL);
    afx_journal_rec r = {0};
    int ok = json_is_object(o) && json_is_string(json_object_get(o, "u")) &&
             hex64(json_string_value(json_object_get(o, "fp")), &r.fp) &&
             hex64(json_string_value(json_object_get(o, "ih")), &r.ih) &&
             json_is_integer(json_object_get(o, "bytes")) && json_is_integer(json_object_get(o, "n"));
    if (ok) {
        r.bytes = (int64_t)json_integer_value(json_object_get(o, "bytes"));
        r.n = (int64_t)json_integer_value(json_object_get(o, "n"));
        r.n_frames = int_array(json_object_get(o, "nf"), r.n);
        json_t *ao = json_object_get(o, "ao");
        r.offsets = ao ? int_array(ao, r.n) : NULL;
        r.unit = strdup(json_string_value(json_object_get(o, "u")));
        ok = r.n >= 0 && r.n_frames != NULL && (ao == NULL || r.offsets != NULL) && r.unit != NULL;
    }
    json_decref(o);
    if (!ok) {
        free_rec(&r);
        return 0;
    }
    if (j->n == j->cap) {
        size_t cap = j->cap ? 2 * j->cap : 1024;
        afx_journal_rec *v = realloc(j->v, cap * sizeof *v);
        if (v == NULL) {
            free_rec(&r);
            return -1;
        }
        j->v = v;
        j->cap = cap;
    }
    j->v[j->n++] = r;
    return 0;
}

static int rec_order(const void *a, const void *b)
{
    const afx_journal_rec *x = a, *y = b;
    return strcmp(x->unit, y->unit);
}

int afx_journal_load(afx_journal *j, const char *outdir)
{
    memset(j, 0, sizeof *j);
    j->fd = -1;
    pthread_mutex_init(&j->mu, NULL);
    size_t n = strlen(outdir) + sizeof "/" AFX_STATE_DIR;
    char *dir = malloc(n);
    if (dir == NULL)
        return -1;
    snprintf(dir, n, "%s/" AFX_STATE_DIR, outdir);
    DIR *d = opendir(dir);
    int status = 0;
    struct dirent *e;
    while (d != NULL && status == 0 && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "journal-", 8) != 0)
            continue;
        char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, e->d_name) < 0) {
            status = -1;
            break;
        }
        FILE *f = fopen(path, "r");
        free(path);
        if (f == NULL)
            continue;
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while (status == 0 && (len = getline(&line, &cap, f)) > 0) {
            /* A line without its newline is the torn tail of a killed run. */
            if (line[len - 1] == '\n')
                status = add_line(j, line);
        }
        free(line);
        fclose(f);
    }
    if (d != NULL)
        closedir(d);
    free(dir);
    /* Sorted by unit; records of one unit with the same fingerprint and input hash are equivalent. */
    if (j->n > 1)
        qsort(j->v, j->n, sizeof *j->v, rec_order);
    return status;
}

const afx_journal_rec *afx_journal_find(const afx_journal *j, const char *unit, uint64_t fp, uint64_t ih)
{
    size_t lo = 0, hi = j->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(j->v[mid].unit, unit) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < j->n && strcmp(j->v[i].unit, unit) == 0; i++)
        if (j->v[i].fp == fp && j->v[i].ih == ih)
            return &j->v[i];
    return NULL;
}

int afx_journal_open(afx_journal *j, const char *outdir, int shard_index, int shard_count, char *err,
                     size_t err_size)
{
    char *path = NULL;
    if (asprintf(&path, "%s/" AFX_STATE_DIR "/journal-%d-of-%d.jsonl", outdir, shard_index, shard_count) < 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    int status = afx_mkdirs_for(path, err, err_size);
    if (status == 0) {
        j->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
        if (j->fd < 0) {
            snprintf(err, err_size, "cannot open '%s': %s", path, strerror(errno));
            status = -1;
        }
    }
    free(path);
    return status;
}

int afx_journal_append(afx_journal *j, const char *unit, uint64_t fp, uint64_t ih, int64_t bytes, int64_t n,
                       const int64_t *n_frames, const int64_t *offsets)
{
    char hex_fp[17], hex_ih[17];
    snprintf(hex_fp, sizeof hex_fp, "%016" PRIx64, fp);
    snprintf(hex_ih, sizeof hex_ih, "%016" PRIx64, ih);
    json_t *o = json_object();
    json_t *nf = json_array();
    json_t *ao = offsets ? json_array() : NULL;
    for (int64_t i = 0; i < n; i++) {
        json_array_append_new(nf, json_integer((json_int_t)n_frames[i]));
        if (ao)
            json_array_append_new(ao, json_integer((json_int_t)offsets[i]));
    }
    json_object_set_new(o, "u", json_string(unit));
    json_object_set_new(o, "fp", json_string(hex_fp));
    json_object_set_new(o, "ih", json_string(hex_ih));
    json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
    json_object_set_new(o, "n", json_integer((json_int_t)n));
    json_object_set_new(o, "nf", nf);
    if (ao)
        json_object_set_new(o, "ao", ao);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text == NULL)
        return -1;
    size_t len = strlen(text);
    char *line = realloc(text, len + 2);
    if (line == NULL) {
        free(text);
        return -1;
    }
    line[len] = '\n';
    line[len + 1] = '\0';
    pthread_mutex_lock(&j->mu);
    /* One write of the whole line with O_APPEND: concurrent writers never interleave inside a line. */
    ssize_t w = j->fd >= 0 ? write(j->fd, line, len + 1) : -1;
    pthread_mutex_unlock(&j->mu);
    free(line);
    return w == (ssize_t)(len + 1) ? 0 : -1;
}

void afx_journal_free(afx_journal *j)
{
    for (size_t i = 0; i < j->n; i++)
        free_rec(&j->v[i]);
    free(j->v);
    if (j->fd >= 0)
        close(j->fd);
    pthread_mutex_destroy(&j->mu);
    memset(j, 0, sizeof *j);
    j->fd = -1;
}
