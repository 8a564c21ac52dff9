/*
 * outfs.c: temporary files, atomic renames, output folder checks and stale temporaries (outfs.h).
 */
#define _GNU_SOURCE

#include "outfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static mode_t file_mode = 0644;

void afx_outfs_init(void)
{
    mode_t mask = umask(022);
    umask(mask);
    file_mode = (mode_t)(0666 & ~mask);
}

int afx_mkdirs(const char *dir, char *err, size_t err_size)
{
    size_t len = strlen(dir);
    char *path = malloc(len + 1);
    if (path == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    memcpy(path, dir, len + 1);
    int status = 0;
    for (size_t i = 1; i <= len && status == 0; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            snprintf(err, err_size, "cannot create folder '%s': %s", path, strerror(errno));
            status = -1;
        }
        path[i] = saved;
    }
    struct stat st;
    if (status == 0 && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
        snprintf(err, err_size, "'%s' is not a folder", dir);
        status = -1;
    }
    free(path);
    return status;
}

int afx_mkdirs_for(const char *path, char *err, size_t err_size)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL || slash == path)
        return 0;
    size_t n = (size_t)(slash - path);
    char *dir = malloc(n + 1);
    if (dir == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    memcpy(dir, path, n);
    dir[n] = '\0';
    struct stat st;
    int status = (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) ? 0 : afx_mkdirs(dir, err, err_size);
    free(dir);
    return status;
}

int afx_tmp_open(afx_tmp *t, const char *final_path, char *err, size_t err_size)
{
    memset(t, 0, sizeof *t);
    t->fd = -1;
    if (afx_mkdirs_for(final_path, err, err_size) != 0)
        return -1;
    const char *slash = strrchr(final_path, '/');
    size_t dir_len = slash ? (size_t)(slash - final_path) + 1 : 0;
    t->path = malloc(dir_len + sizeof AFX_TMP_PREFIX "XXXXXX");
    if (t->path == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    memcpy(t->path, final_path, dir_len);
    memcpy(t->path + dir_len, AFX_TMP_PREFIX "XXXXXX", sizeof AFX_TMP_PREFIX "XXXXXX");
    t->fd = mkostemp(t->path, O_CLOEXEC);
    if (t->fd < 0) {
        snprintf(err, err_size, "cannot create a temporary file for '%s': %s", final_path, strerror(errno));
        free(t->path);
        t->path = NULL;
        return -1;
    }
    if (fchmod(t->fd, file_mode) != 0 ||
        (t->f = fdopen(t->fd, "wb")) == NULL) {
        snprintf(err, err_size, "cannot prepare temporary file '%s': %s", t->path, strerror(errno));
        close(t->fd);
        unlink(t->path);
        free(t->path);
        t->path = NULL;
        t->fd = -1;
        return -1;
    }
    return 0;
}

int afx_tmp_commit(afx_tmp *t, const char *final_path, char *err, size_t err_size)
{
    int failed = ferror(t->f) != 0;
    int saved = errno;
    if (fflush(t->f) != 0) {
        failed = 1;
        saved = errno;
    }
    /* Renamed while still open: the final name appears with every byte in place. */
    if (!failed && rename(t->path, final_path) != 0) {
        snprintf(err, err_size, "cannot rename '%s' to '%s': %s", t->path, final_path, strerror(errno));
        fclose(t->f);
        unlink(t->path);
        free(t->path);
        memset(t, 0, sizeof *t);
        return -1;
    }
    if (failed) {
        snprintf(err, err_size, "cannot write '%s': %s", final_path, saved ? strerror(saved) : "write error");
        fclose(t->f);
        unlink(t->path);
    } else if (fclose(t->f) != 0) {
        snprintf(err, err_size, "cannot close '%s': %s", final_path, strerror(errno));
        failed = 1;
    }
    free(t->path);
    memset(t, 0, sizeof *t);
    return failed ? -1 : 0;
}

void afx_tmp_abort(afx_tmp *t)
{
    if (t->f != NULL) {
        fclose(t->f);
        unlink(t->path);
    }
    free(t->path);
    memset(t, 0, sizeof *t);
}

int afx_outdir_check(const char *dir, char *err, size_t err_size)
{
    if (afx_mkdirs(dir, err, err_size) != 0)
        return -1;
    size_t n = strlen(dir);
    char *probe = malloc(n + sizeof "/" AFX_TMP_PREFIX "XXXXXX");
    if (probe == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    snprintf(probe, n + sizeof "/" AFX_TMP_PREFIX "XXXXXX", "%s/" AFX_TMP_PREFIX "XXXXXX", dir);
    int fd = mkostemp(probe, O_CLOEXEC);
    int status = 0;
    if (fd < 0) {
        snprintf(err, err_size, "output folder '%s' is not writable: %s", dir, strerror(errno));
        status = -1;
    } else {
        if (write(fd, "probe", 5) != 5) {
            snprintf(err, err_size, "output folder '%s' is not writable: %s", dir, strerror(errno));
            status = -1;
        }
        close(fd);
        unlink(probe);
    }
    free(probe);
    return status;
}

/* A name of the temporary scheme: ".afx." followed by exactly six mkstemp characters. */
static int is_temp_name(const char *name)
{
    size_t n = strlen(name), p = sizeof AFX_TMP_PREFIX - 1;
    return n == p + 6 && strncmp(name, AFX_TMP_PREFIX, p) == 0;
}

long afx_remove_stale_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    long removed = 0;
    size_t dn = strlen(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        size_t len = dn + 1 + strlen(e->d_name) + 1;
        char *path = malloc(len);
        if (path == NULL)
            break;
        snprintf(path, len, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                removed += afx_remove_stale_temps(path);
            } else if (S_ISREG(st.st_mode) && is_temp_name(e->d_name) && unlink(path) == 0) {
                removed++;
            }
        }
        free(path);
    }
    closedir(d);
    return removed;
}

int afx_outdir_lock(const char *outdir, long *removed, char *err, size_t err_size)
{
    *removed = 0;
    char *path = NULL;
    if (asprintf(&path, "%s/.afx-state/lock", outdir) < 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    int fd = -1;
    if (afx_mkdirs_for(path, err, err_size) == 0) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0)
            snprintf(err, err_size, "cannot open '%s': %s", path, strerror(errno));
    }
    free(path);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        *removed = afx_remove_stale_temps(outdir); /* alone: every temporary is a killed run's */
    /* Shared from now on (a conversion may let another starting run clean in between: this run has no
     * temporary yet). */
    if (flock(fd, LOCK_SH) != 0) {
        snprintf(err, err_size, "cannot lock '%s/.afx-state/lock': %s", outdir, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}
