/*
 * outfs.h: how the job writes files so that no reader ever sees a partial or mixed output.
 *
 * Every output is written to a temporary file in its final folder, named ".afx.XXXXXX" (mkstemp: unique per
 * process and call, hidden, and as long whatever the output's name, so a name near NAME_MAX still fits),
 * then renamed over the final name (atomic on POSIX file systems). Two runs writing the same output
 * therefore leave one of the two complete files, never a mix. The writer holds an flock on its temporary
 * file; a later run removes the ".afx.*" files nobody holds (left by a killed run) and leaves those of a
 * live run alone.
 */
#ifndef AFX_JOB_OUTFS_H
#define AFX_JOB_OUTFS_H

#include <stddef.h>
#include <stdio.h>

/* A temporary file being written. */
typedef struct afx_tmp {
    FILE *f;     /* buffered stream on the file */
    int fd;      /* its descriptor (locked) */
    char *path;  /* folder/.afx.XXXXXX */
} afx_tmp;

/* Prefix of the temporary names (in the final file's folder). */
#define AFX_TMP_PREFIX ".afx."

/* Reads the process umask once (call before starting threads); files get 0666 & ~umask. */
void afx_outfs_init(void);

/* Creates the folders of `path` (mkdir -p of its dirname). 0, or -1 with a message in err. */
int afx_mkdirs_for(const char *path, char *err, size_t err_size);

/* mkdir -p `dir`. 0, or -1 with a message naming the folder in err. */
int afx_mkdirs(const char *dir, char *err, size_t err_size);

/* Opens a temporary file for `final_path` in its folder (created when missing). 0 or -1 with err. */
int afx_tmp_open(afx_tmp *t, const char *final_path, char *err, size_t err_size);

/* Flushes and closes the temporary file and renames it to `final_path`. On failure removes it and
 * returns -1 with err. */
int afx_tmp_commit(afx_tmp *t, const char *final_path, char *err, size_t err_size);

/* Closes and removes an unfinished temporary file. NULL-safe on an unopened afx_tmp (zeroed). */
void afx_tmp_abort(afx_tmp *t);

/*
 * Makes sure `dir` exists and is a writable folder, by creating and removing a probe file in it, before any
 * work starts. 0, or -1 with the reason in err.
 */
int afx_outdir_check(const char *dir, char *err, size_t err_size);

/* Removes the ".afx.*" temporary files below `dir` that no live process holds. Returns how many. */
long afx_remove_stale_temps(const char *dir);

#endif /* AFX_JOB_OUTFS_H */
