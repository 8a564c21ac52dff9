/*
 * outfs.h: how the job writes files so that no reader ever sees a partial or mixed output.
 *
 * Every output is written to a temporary file in its final folder, named ".afx.XXXXXX" (mkstemp: unique per
 * process and call, hidden, and as long whatever the output's name, so a name near NAME_MAX still fits),
 * then renamed over the final name (atomic on POSIX file systems). Two runs writing the same output
 * therefore leave one of the two complete files, never a mix.
 *
 * Stale temporaries (left by a killed run) are removed by the next run that finds itself alone in the
 * folder: every run holds a shared flock on OUTDIR/.afx-state/lock while it works, and a starting run that
 * can take it exclusively knows no other run is writing, removes every ".afx.*" file below OUTDIR, then
 * holds it shared like the others. A run that starts while another works leaves the temporaries alone.
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

/* Removes the ".afx.*" temporary files below `dir` (none may belong to a live run). Returns how many. */
long afx_remove_stale_temps(const char *dir);

/*
 * Takes the run lock of `outdir` (see above), removing the stale temporaries when no other run holds it.
 * Returns the lock's descriptor (keep it open until the run ends), or -1 with err. *removed gets the number
 * of temporaries removed.
 */
int afx_outdir_lock(const char *outdir, long *removed, char *err, size_t err_size);

#endif /* AFX_JOB_OUTFS_H */
