/*
 * items.c: inputs of a job (items.h): files, folders, path lists, CSV/TSV manifests (libcsv) and JSONL
 * manifests (jansson), with the output key of every clip.
 */
#define _GNU_SOURCE

#include "items.h"

#include <csv.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Extensions a folder walk takes (case-insensitive): what libsndfile decodes. */
static const char *const AUDIO_EXTENSIONS[] = {"wav", "wave", "flac", "ogg", "oga", "opus", "mp3", "aif", "aiff",
                                               "aifc", "au", "snd", "caf", "w64", "rf64", "voc", "sph", "nist"};

/* ---------------------------------------------------------------------------------------------- */
/* Strings and paths                                                                              */
/* ---------------------------------------------------------------------------------------------- */

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static char *dup_s(const char *s) { return s ? dup_n(s, strlen(s)) : NULL; }

/* malloc'd printf. */
static char *fmt_alloc(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static char *fmt_alloc(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

void afx_job_item_fail(afx_job_item *item, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    free(item->error);
    item->error = s ? s : dup_s("out of memory");
}

/* Normalizes an absolute path in place: "//" and "/./" collapse, ".." removes the previous component. */
static void normalize_abs(char *p)
{
    char *out = p; /* p[0] == '/' */
    const char *in = p;
    while (*in) {
        while (*in == '/')
            in++;
        if (!*in)
            break;
        const char *end = strchr(in, '/');
        size_t len = end ? (size_t)(end - in) : strlen(in);
        if (len == 1 && in[0] == '.') {
            /* skip */
        } else if (len == 2 && in[0] == '.' && in[1] == '.') {
            while (out > p && *(out - 1) != '/')
                out--;
            if (out > p)
                out--; /* the '/' before the removed component */
        } else {
            *out++ = '/';
            memmove(out, in, len);
            out += len;
        }
        in += len;
    }
    if (out == p)
        *out++ = '/';
    *out = '\0';
}

char *afx_job_abs_path(const char *path)
{
    char *s = NULL;
    if (path[0] == '/') {
        s = dup_s(path);
    } else {
        char *cwd = getcwd(NULL, 0);
        if (cwd == NULL)
            return NULL;
        s = fmt_alloc("%s/%s", cwd, path);
        free(cwd);
    }
    if (s != NULL)
        normalize_abs(s);
    return s;
}

/* Folder part of a path ("a/b.csv" -> "a", "b.csv" -> "."). malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return dup_s(".");
    if (slash == path)
        return dup_s("/");
    return dup_n(path, (size_t)(slash - path));
}

/* `path` resolved against folder `base` when relative. malloc'd. */
static char *resolve(const char *base, const char *path)
{
    if (path[0] == '/' || base == NULL || strcmp(base, ".") == 0)
        return dup_s(path);
    size_t n = strlen(base);
    return fmt_alloc("%s%s%s", base, (n > 0 && base[n - 1] == '/') ? "" : "/", path);
}

/*
 * Key of `path` under `root`: the path relative to the root without the extension of its last component;
 * a path outside the root gives its absolute path without the leading '/'. malloc'd; NULL if out of memory.
 */
static char *key_of(const char *path, const char *root)
{
    char *ap = afx_job_abs_path(path);
    char *ar = root ? afx_job_abs_path(root) : NULL;
    if (ap == NULL || (root && ar == NULL)) {
        free(ap);
        free(ar);
        return NULL;
    }
    const char *rel = ap + 1;
    if (ar != NULL) {
        size_t n = strlen(ar);
        if (strcmp(ar, "/") == 0)
            rel = ap + 1;
        else if (strncmp(ap, ar, n) == 0 && ap[n] == '/')
            rel = ap + n + 1;
    }
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    const char *dot = strrchr(base, '.');
    size_t len = (dot != NULL && dot != base) ? (size_t)(dot - rel) : strlen(rel);
    char *key = dup_n(rel, len);
    free(ap);
    free(ar);
    return key;
}

/* ---------------------------------------------------------------------------------------------- */
/* Item list                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

/* Appends an item (taking ownership of path and key). Returns it, or NULL if out of memory. */
static afx_job_item *push(afx_job_items *items, char *path, char *key)
{
    if (items->n == items->cap) {
        int64_t cap = items->cap ? 2 * items->cap : 256;
        afx_job_item *v = realloc(items->v, (size_t)cap * sizeof *v);
        if (v == NULL) {
            free(path);
            free(key);
            return NULL;
        }
        items->v = v;
        items->cap = cap;
    }
    afx_job_item *it = &items->v[items->n];
    memset(it, 0, sizeof *it);
    it->index = items->n++;
    it->path = path;
    it->key = key;
    return it;
}

/* Appends a clip at `path` with the key relative to `root`. Returns 0 or -1 if out of memory. */
static int push_path(afx_job_items *items, const char *path, const char *root)
{
    char *p = dup_s(path);
    char *k = key_of(path, root);
    if (p == NULL || k == NULL) {
        free(p);
        free(k);
        return -1;
    }
    afx_job_item *it = push(items, p, k);
    if (it == NULL)
        return -1;
    if (k[0] == '\0')
        afx_job_item_fail(it, "%s: cannot derive an output name from this path", path);
    return 0;
}

void afx_job_items_free(afx_job_items *items)
{
    for (int64_t i = 0; i < items->n; i++) {
        afx_job_item *it = &items->v[i];
        free(it->path);
        free(it->key);
        free(it->label_json);
        free(it->meta_json);
        free(it->error);
    }
    free(items->v);
    memset(items, 0, sizeof *items);
}

int afx_job_item_int_label(const afx_job_item *item, long long *out)
{
    if (item->label_json == NULL)
        return 0;
    json_error_t e;
    json_t *v = json_loads(item->label_json, JSON_DECODE_ANY, &e);
    int ok = 0;
    if (json_is_integer(v)) {
        *out = (long long)json_integer_value(v);
        ok = 1;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (*s != '\0' && !isspace((unsigned char)*s) && end != s && *end == '\0' && errno == 0) {
            *out = x;
            ok = 1;
        }
    }
    json_decref(v);
    return ok;
}

/* ---------------------------------------------------------------------------------------------- */
/* Folders                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

static int has_audio_extension(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot == NULL || dot == name)
        return 0;
    for (size_t i = 0; i < sizeof AUDIO_EXTENSIONS / sizeof AUDIO_EXTENSIONS[0]; i++)
        if (strcasecmp(dot + 1, AUDIO_EXTENSIONS[i]) == 0)
            return 1;
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }
static int not_hidden(const struct dirent *e) { return e->d_name[0] != '.'; }

/* Appends the audio files below `dir` (recursively, sorted). Returns 0, or -1 after printing why. */
static int walk(afx_job_items *items, const char *dir, const char *root)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, not_hidden, by_name);
    if (n < 0) {
        fprintf(stderr, "afx: cannot read folder '%s': %s\n", dir, strerror(errno));
        return -1;
    }
    int status = 0;
    size_t dlen = strlen(dir);
    for (int i = 0; i < n; i++) {
        if (status == 0) {
            char *child = fmt_alloc("%s%s%s", dir, (dlen > 0 && dir[dlen - 1] == '/') ? "" : "/", names[i]->d_name);
            struct stat lst, st;
            if (child == NULL) {
                fprintf(stderr, "afx: out of memory\n");
                status = -1;
            } else if (lstat(child, &lst) == 0 && S_ISDIR(lst.st_mode)) {
                status = walk(items, child, root);
            } else if (stat(child, &st) == 0 && !S_ISDIR(st.st_mode) && has_audio_extension(names[i]->d_name)) {
                if (push_path(items, child, root) != 0) {
                    fprintf(stderr, "afx: out of memory\n");
                    status = -1;
                }
            }
            free(child);
        }
        free(names[i]);
    }
    free(names);
    return status;
}

/* ---------------------------------------------------------------------------------------------- */
/* Lists and manifests                                                                            */
/* ---------------------------------------------------------------------------------------------- */

/* Reads a whole file ("-" = stdin) into a malloc'd NUL-terminated buffer. NULL after printing why. */
static char *slurp(const char *path, size_t *size)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "afx: cannot open '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (buf == NULL)
            break;
        if (n + 1 >= cap) {
            char *b = realloc(buf, cap * 2);
            if (b == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    if (f != stdin)
        fclose(f);
    if (buf == NULL) {
        fprintf(stderr, "afx: out of memory reading '%s'\n", path);
        return NULL;
    }
    if (failed) {
        fprintf(stderr, "afx: cannot read '%s'\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *size = n;
    return buf;
}

/* --files-from: one path a line, relative to the current folder. */
static int read_list(afx_job_items *items, const char *list, const char *root)
{
    size_t size = 0;
    char *buf = slurp(list, &size);
    if (buf == NULL)
        return -1;
    int status = 0;
    for (char *line = buf; line != NULL && *line && status == 0;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        if (len > 0 && push_path(items, line, root ? root : ".") != 0) {
            fprintf(stderr, "afx: out of memory\n");
            status = -1;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(buf);
    return status;
}

/* Parses a number of seconds (a manifest's offset or duration). 1 on success. */
static int parse_seconds(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (*s == '\0' || end == s || *end != '\0' || errno == ERANGE || !isfinite(v) || v < 0.0)
        return 0;
    *out = v;
    return 1;
}

/* Fills a new item from one manifest row given as a JSON object (CSV rows are converted to one). */
static int push_row(afx_job_items *items, json_t *row, const char *where, const char *base, const char *root)
{
    json_t *jpath = json_object_get(row, "path");
    const char *path = json_is_string(jpath) ? json_string_value(jpath) : "";
    char *resolved = resolve(base, path);
    char *key = NULL;
    json_t *jid = json_object_get(row, "id");
    if (json_is_string(jid) && json_string_length(jid) > 0)
        key = dup_s(json_string_value(jid));
    else if (json_is_integer(jid))
        key = fmt_alloc("%lld", (long long)json_integer_value(jid));
    else if (path[0] != '\0')
        key = key_of(resolved ? resolved : path, root);
    else
        key = dup_s("");
    afx_job_item *it = push(items, resolved, key);
    if (resolved == NULL || key == NULL || it == NULL)
        return -1;

    if (path[0] == '\0')
        afx_job_item_fail(it, "%s: no path", where);
    else if (key[0] == '\0')
        afx_job_item_fail(it, "%s: empty id", where);

    json_t *label = json_object_get(row, "label");
    if (label != NULL && !json_is_null(label))
        it->label_json = json_dumps(label, JSON_ENCODE_ANY | JSON_COMPACT);

    const char *names[2] = {"offset", "duration"};
    double *slots[2] = {&it->offset, &it->duration};
    for (int k = 0; k < 2; k++) {
        json_t *v = json_object_get(row, names[k]);
        if (v == NULL || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
            continue;
        int ok = 0;
        if (json_is_number(v)) {
            double x = json_number_value(v);
            ok = isfinite(x) && x >= 0.0;
            if (ok)
                *slots[k] = x;
        } else if (json_is_string(v)) {
            ok = parse_seconds(json_string_value(v), slots[k]);
        }
        if (!ok) {
            char *text = json_dumps(v, JSON_ENCODE_ANY);
            afx_job_item_fail(it, "%s: bad %s %s (seconds >= 0 expected)", where, names[k], text ? text : "?");
            free(text);
        }
    }

    json_t *meta = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(row, k, v)
    {
        if (strcmp(k, "path") && strcmp(k, "id") && strcmp(k, "label") && strcmp(k, "offset") && strcmp(k, "duration"))
            json_object_set(meta, k, v);
    }
    if (json_object_size(meta) > 0)
        it->meta_json = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(meta);
    return 0;
}

/* JSONL manifest: one object a line. */
static int read_jsonl(afx_job_items *items, const char *manifest, const char *base, const char *root)
{
    size_t size = 0;
    char *buf = slurp(manifest, &size);
    if (buf == NULL)
        return -1;
    int status = 0;
    long line_no = 0;
    for (char *line = buf; line != NULL && *line && status == 0;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        line_no++;
        const char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        if (*s != '\0') {
            char where[64];
            snprintf(where, sizeof where, "line %ld", line_no);
            char *w = fmt_alloc("%s %s", manifest, where);
            json_error_t e;
            json_t *row = json_loads(s, 0, &e);
            if (w == NULL) {
                status = -1;
            } else if (!json_is_object(row)) {
                char *p = dup_s("");
                char *k = dup_s("");
                afx_job_item *it = push(items, p, k);
                if (it == NULL || p == NULL || k == NULL)
                    status = -1;
                else if (row == NULL)
                    afx_job_item_fail(it, "%s: invalid JSON: %s", w, e.text);
                else
                    afx_job_item_fail(it, "%s: not a JSON object", w);
            } else {
                status = push_row(items, row, w, base, root);
            }
            json_decref(row);
            free(w);
        }
        line = nl ? nl + 1 : NULL;
    }
    free(buf);
    if (status != 0)
        fprintf(stderr, "afx: out of memory reading '%s'\n", manifest);
    return status;
}

/* State of the CSV/TSV callbacks. */
typedef struct csv_state {
    afx_job_items *items;
    const char *manifest, *base, *root;
    char **header;
    size_t n_header;
    char **fields;
    size_t n_fields, cap_fields;
    long row_no; /* 1 = header */
    int status;  /* -1: out of memory */
} csv_state;

static void csv_field(void *s, size_t len, void *data)
{
    csv_state *st = data;
    if (st->n_fields == st->cap_fields) {
        size_t cap = st->cap_fields ? 2 * st->cap_fields : 16;
        char **f = realloc(st->fields, cap * sizeof *f);
        if (f == NULL) {
            st->status = -1;
            return;
        }
        st->fields = f;
        st->cap_fields = cap;
    }
    char *v = dup_n(s ? s : "", s ? len : 0);
    if (v == NULL) {
        st->status = -1;
        return;
    }
    st->fields[st->n_fields++] = v;
}

static void csv_row(int c, void *data)
{
    (void)c;
    csv_state *st = data;
    st->row_no++;
    if (st->status == 0) {
        if (st->header == NULL) {
            st->header = st->fields;
            st->n_header = st->n_fields;
            st->fields = NULL;
            st->n_fields = st->cap_fields = 0;
            return;
        }
        char *where = fmt_alloc("%s row %ld", st->manifest, st->row_no);
        if (where == NULL) {
            st->status = -1;
        } else if (st->n_fields != st->n_header) {
            char *p = dup_s(""), *k = dup_s("");
            afx_job_item *it = push(st->items, p, k);
            if (it == NULL || p == NULL || k == NULL)
                st->status = -1;
            else
                afx_job_item_fail(it, "%s: %zu fields, the header has %zu", where, st->n_fields, st->n_header);
        } else {
            json_t *row = json_object();
            for (size_t i = 0; i < st->n_fields; i++)
                json_object_set_new(row, st->header[i], json_string(st->fields[i]));
            if (push_row(st->items, row, where, st->base, st->root) != 0)
                st->status = -1;
            json_decref(row);
        }
        free(where);
    }
    for (size_t i = 0; i < st->n_fields; i++)
        free(st->fields[i]);
    st->n_fields = 0;
}

static int csv_space(unsigned char c) { return c == ' '; }
static int tsv_space(unsigned char c) { (void)c; return 0; }

/* CSV or TSV manifest with a header row. */
static int read_csv(afx_job_items *items, const char *manifest, unsigned char delim, const char *base,
                    const char *root)
{
    size_t size = 0;
    char *buf = slurp(manifest, &size);
    if (buf == NULL)
        return -1;
    struct csv_parser p;
    if (csv_init(&p, CSV_APPEND_NULL) != 0) {
        free(buf);
        fprintf(stderr, "afx: out of memory\n");
        return -1;
    }
    csv_set_delim(&p, delim);
    csv_set_space_func(&p, delim == CSV_TAB ? tsv_space : csv_space);
    csv_state st = {.items = items, .manifest = manifest, .base = base, .root = root};
    int status = 0;
    if (csv_parse(&p, buf, size, csv_field, csv_row, &st) != size || csv_fini(&p, csv_field, csv_row, &st) != 0) {
        fprintf(stderr, "afx: cannot parse '%s': %s\n", manifest, csv_strerror(csv_error(&p)));
        status = -1;
    }
    if (status == 0 && st.status != 0) {
        fprintf(stderr, "afx: out of memory reading '%s'\n", manifest);
        status = -1;
    }
    if (status == 0) {
        int has_path = 0;
        for (size_t i = 0; i < st.n_header; i++)
            has_path |= strcmp(st.header[i], "path") == 0;
        if (!has_path) {
            fprintf(stderr, "afx: manifest '%s' has no 'path' column in its header row\n", manifest);
            status = -1;
        }
    }
    csv_free(&p);
    for (size_t i = 0; i < st.n_header; i++)
        free(st.header[i]);
    free(st.header);
    for (size_t i = 0; i < st.n_fields; i++)
        free(st.fields[i]);
    free(st.fields);
    free(buf);
    return status;
}

/* Reads a manifest by extension. */
static int read_manifest(afx_job_items *items, const char *manifest, const char *root)
{
    const char *dot = strrchr(manifest, '.');
    const char *ext = dot ? dot + 1 : "";
    char *folder = dir_of(manifest);
    if (folder == NULL) {
        fprintf(stderr, "afx: out of memory\n");
        return -1;
    }
    const char *base = root ? root : folder;
    int64_t before = items->n;
    int status;
    if (strcasecmp(ext, "csv") == 0)
        status = read_csv(items, manifest, CSV_COMMA, base, base);
    else if (strcasecmp(ext, "tsv") == 0)
        status = read_csv(items, manifest, CSV_TAB, base, base);
    else if (strcasecmp(ext, "jsonl") == 0 || strcasecmp(ext, "json") == 0 || strcasecmp(ext, "ndjson") == 0)
        status = read_jsonl(items, manifest, base, base);
    else {
        fprintf(stderr, "afx: manifest '%s': unknown extension (expected .csv, .tsv or .jsonl)\n", manifest);
        status = -1;
    }
    if (status == 0 && items->n == before)
        fprintf(stderr, "afx: warning: manifest '%s' lists no clips\n", manifest);
    free(folder);
    return status;
}

/* Marks every item whose key is taken by an earlier item as failed (duplicate outputs). */
static int compare_keys(const void *a, const void *b)
{
    const afx_job_item *x = *(const afx_job_item *const *)a, *y = *(const afx_job_item *const *)b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->index < y->index ? -1 : x->index > y->index);
}

static int mark_duplicates(afx_job_items *items)
{
    if (items->n < 2)
        return 0;
    afx_job_item **sorted = malloc((size_t)items->n * sizeof *sorted);
    if (sorted == NULL)
        return -1;
    for (int64_t i = 0; i < items->n; i++)
        sorted[i] = &items->v[i];
    qsort(sorted, (size_t)items->n, sizeof *sorted, compare_keys);
    const afx_job_item *first = NULL;
    for (int64_t i = 0; i < items->n; i++) {
        afx_job_item *it = sorted[i];
        if (it->key[0] == '\0')
            continue;
        if (first != NULL && strcmp(first->key, it->key) == 0) {
            if (it->error == NULL)
                afx_job_item_fail(it, "%s: output '%s' is already the output of '%s' (clip %lld): rename one, give "
                                       "manifest ids, or use --root",
                                  it->path, it->key, first->path, (long long)first->index);
        } else {
            first = it;
        }
    }
    free(sorted);
    return 0;
}

/* Rejects keys that would escape the output folder or that Kaldi and WebDataset cannot carry. */
static void check_keys(afx_job_items *items)
{
    for (int64_t i = 0; i < items->n; i++) {
        afx_job_item *it = &items->v[i];
        if (it->error != NULL || it->key[0] == '\0')
            continue;
        const char *k = it->key;
        int bad = k[0] == '/' || strstr(k, "//") != NULL || k[strlen(k) - 1] == '/';
        for (const char *c = k; *c && !bad; c++)
            bad = isspace((unsigned char)*c) || iscntrl((unsigned char)*c);
        for (const char *c = k; *c && !bad; c = strchr(c, '/') ? strchr(c, '/') + 1 : c + strlen(c))
            bad = (c[0] == '.' && (c[1] == '/' || c[1] == '\0')) ||
                  (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0'));
        if (bad)
            afx_job_item_fail(it, "%s: output key '%s' is not usable (no spaces, control characters, empty, '.' or "
                                   "'..' components)",
                              it->path, k);
    }
}

/* WebDataset splits a member name at the first '.' of its last component (key = what comes before): dots
 * in that component of a key become '_' ("a/b.c" -> "a/b_c"), so that "a/b_c.npy" groups as one sample. */
static void wds_keys(afx_job_items *items)
{
    for (int64_t i = 0; i < items->n; i++) {
        char *base = strrchr(items->v[i].key, '/');
        for (char *c = base ? base + 1 : items->v[i].key; *c; c++)
            if (*c == '.')
                *c = '_';
    }
}

int afx_job_items_collect(const afx_job_config *cfg, afx_job_items *items)
{
    memset(items, 0, sizeof *items);
    int stdin_used = 0;
    for (int s = 0; s < cfg->n_sources; s++) {
        const afx_job_source *src = &cfg->sources[s];
        int status = 0;
        if (strcmp(src->path, "-") == 0) {
            if (stdin_used++) {
                fprintf(stderr, "afx: standard input ('-') can be read only once\n");
                return -1;
            }
        }
        if (src->kind == AFX_SRC_FILES_FROM) {
            status = read_list(items, src->path, cfg->root);
        } else if (src->kind == AFX_SRC_MANIFEST) {
            status = read_manifest(items, src->path, cfg->root);
        } else if (strcmp(src->path, "-") == 0) {
            char *p = dup_s("-"), *k = dup_s("stdin");
            status = (p && k && push(items, p, k)) ? 0 : -1;
        } else {
            struct stat st;
            if (stat(src->path, &st) == 0 && S_ISDIR(st.st_mode)) {
                int64_t before = items->n;
                status = walk(items, src->path, cfg->root ? cfg->root : src->path);
                if (status == 0 && items->n == before)
                    fprintf(stderr, "afx: warning: folder '%s' has no audio files\n", src->path);
            } else {
                /* A missing file is the clip's own error, reported when it is decoded. */
                char *folder = dir_of(src->path);
                status = folder ? push_path(items, src->path, cfg->root ? cfg->root : folder) : -1;
                free(folder);
            }
        }
        if (status != 0) {
            afx_job_items_free(items);
            return -1;
        }
    }
    if (cfg->format == AFX_JOB_WDS)
        wds_keys(items);
    check_keys(items);
    if (mark_duplicates(items) != 0) {
        fprintf(stderr, "afx: out of memory\n");
        afx_job_items_free(items);
        return -1;
    }
    return 0;
}
