/*
 * journal.h: restart records. When an output unit (one .npy, one tar or ark file, one table) has been
 * renamed into place with every clip in it computed, one JSON line is appended to
 * OUTDIR/.afx-state/journal-I-of-N.jsonl with the unit's name, the parameters' fingerprint, a hash of the
 * unit's inputs (paths, offsets, durations, keys, labels, carried columns, clip indices), the file's size
 * and the clips' frame counts (and ark offsets). A rerun skips a unit only when a record matches all of
 * these and the file still has that size; anything else (a torn last line after kill -9, changed
 * parameters, a changed manifest, a unit with a failed clip) is redone. Every journal file of the folder
 * is read, so a rerun with another shard count still finds the records.
 */
#ifndef AFX_JOB_JOURNAL_H
#define AFX_JOB_JOURNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct afx_journal_rec {
    char *unit;
    uint64_t fp, ih;
    int64_t bytes;
    int64_t n;         /* clips in the unit */
    int64_t *n_frames; /* [n] */
    int64_t *offsets;  /* [n] ark offsets, NULL for other formats */
} afx_journal_rec;

typedef struct afx_journal {
    afx_journal_rec *v;
    size_t n, cap;
    int fd;            /* append descriptor of this shard's journal, -1 when closed */
    pthread_mutex_t mu;
} afx_journal;

/* Folder of the journal files inside OUTDIR. */
#define AFX_STATE_DIR ".afx-state"

/* Reads every journal file of OUTDIR (none is fine). 0, or -1 if out of memory. */
int afx_journal_load(afx_journal *j, const char *outdir);

/* The record of `unit` with this fingerprint and input hash, or NULL. (Later records win.) */
const afx_journal_rec *afx_journal_find(const afx_journal *j, const char *unit, uint64_t fp, uint64_t ih);

/* Opens OUTDIR/.afx-state/journal-I-of-N.jsonl for appending. 0 or -1 with err. */
int afx_journal_open(afx_journal *j, const char *outdir, int shard_index, int shard_count, char *err,
                     size_t err_size);

/* Appends one record (one write(2) of one line; thread-safe). 0 or -1. */
int afx_journal_append(afx_journal *j, const char *unit, uint64_t fp, uint64_t ih, int64_t bytes, int64_t n,
                       const int64_t *n_frames, const int64_t *offsets);

void afx_journal_free(afx_journal *j);

/* 64-bit FNV-1a, for fingerprints: start with AFX_FNV_START, feed bytes. */
#define AFX_FNV_START 0xcbf29ce484222325ULL
uint64_t afx_fnv(uint64_t h, const void *data, size_t n);
uint64_t afx_fnv_str(uint64_t h, const char *s); /* the string and its NUL (NULL hashes as "\1") */

#endif /* AFX_JOB_JOURNAL_H */
