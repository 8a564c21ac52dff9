/*
 * items.h: the clips of a job, collected from the command line's sources in order.
 *
 * Sources and roots (the root is what output keys are relative to):
 *   FILE            one clip; root = --root, else the file's folder (key = its basename)
 *   FOLDER          every file with an audio extension below it, recursively, in byte order of the names
 *                   (hidden names skipped, symbolic links to files followed, to folders not); root =
 *                   --root, else the folder itself
 *   --files-from L  one path a line, relative to the current folder; root = --root, else the current folder
 *   MANIFEST        .csv / .tsv (header row; a 'path' column required; optional label, offset, duration,
 *                   id; every other column carried through) or .jsonl (one object a line, same keys);
 *                   relative paths resolve against --root, else the manifest's folder, which is the root
 *   -               audio read from standard input (key "stdin")
 * The key of a clip is the manifest's id when given, else its path relative to the root without the
 * extension ("yes/x.wav" -> "yes/x"); a path outside the root keeps its whole absolute path as key
 * ("/data/x.wav" -> "data/x"). A bad row (no path, bad offset, wrong column count, bad JSON) becomes an
 * item with an error: it fails alone, the job goes on.
 */
#ifndef AFX_JOB_ITEMS_H
#define AFX_JOB_ITEMS_H

#include <stdint.h>

#include "job.h"

typedef struct afx_job_item {
    int64_t index;     /* position in the whole list (the global clip index: keys dither and masks) */
    char *path;        /* file to decode ("-" = stdin) */
    char *key;         /* output key: relative path without extension, or the manifest id */
    char *label_json;  /* label as JSON text (a CSV label is a string), NULL if none */
    double offset;     /* seconds into the file (manifest 'offset'), 0 if none */
    double duration;   /* seconds to read (manifest 'duration'), 0 = to the end */
    char *meta_json;   /* the other manifest columns as a JSON object text, NULL if none */
    char *error;       /* why this item fails without being decoded (bad row, duplicate output), NULL if fine */
} afx_job_item;

typedef struct afx_job_items {
    afx_job_item *v;
    int64_t n, cap;
} afx_job_items;

/*
 * Collects the items of every source of cfg in order. A source that cannot be read at all (missing list
 * or manifest, a manifest without a 'path' column, an unknown manifest extension) is a usage error:
 * returns -1 after printing why. Returns 0 otherwise (bad rows are items with an error).
 */
int afx_job_items_collect(const afx_job_config *cfg, afx_job_items *items);

/* Frees every item and the array. */
void afx_job_items_free(afx_job_items *items);

/* The label as an integer when it is one (JSON integer, or a string of decimal digits with an optional sign),
 * for WebDataset's .cls. Returns 1 and sets *out, else 0. */
int afx_job_item_int_label(const afx_job_item *item, long long *out);

/* Sets item->error (printf-style), replacing an earlier one. */
void afx_job_item_fail(afx_job_item *item, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Lexically normalized copy of `path` made absolute against the current folder ("a/../b/./c" -> "/cwd/b/c").
 * malloc'd; NULL if out of memory. */
char *afx_job_abs_path(const char *path);

#endif /* AFX_JOB_ITEMS_H */
