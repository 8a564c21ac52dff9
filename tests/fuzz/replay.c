/*
 * replay.c: a main() for a fuzz target outside libFuzzer. Feeds every file named on the command line,
 * and every regular file in every folder named there, to LLVMFuzzerTestOneInput once, in name order.
 *
 * The normal build links it with each tests/fuzz/fuzz_<name>.c into afx_replay_<name> and ctest replays
 * the target's seed corpus with it, plainly and under Valgrind's memcheck (tests/CMakeLists.txt): the
 * sanitizer build instruments afx only, so an out-of-bounds access inside libsoxr, libsndfile,
 * libmpg123, KissFFT or jansson goes unseen there unless it happens to leave the mapped memory; memcheck
 * sees every load and store. A contract check that fails traps (the target's __builtin_trap()).
 *
 * Exit status: 0 when every input ran, 2 when an input could not be read or none was found (a replay of
 * nothing must not pass).
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: cannot open\n", path);
        return 0;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t got = 1; buf && got > 0;) {
        if (n == cap) {
            uint8_t *p = realloc(buf, cap *= 2);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    }
    const int ok = buf != NULL && !ferror(f);
    fclose(f);
    if (!ok) {
        fprintf(stderr, "replay: %s: cannot read\n", path);
        free(buf);
        return 0;
    }
    /* An exact-size copy, so a read past the input is past the allocation (as under libFuzzer). */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) {
        free(buf);
        return 0;
    }
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 1;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Replays path (a file, or a folder's regular files); adds to *count; 0 on a failure to read. */
static int replay_path(const char *path, long *count)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: no such file or folder\n", path);
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (!replay_file(path)) return 0;
        ++*count;
        return 1;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "replay: %s: cannot list\n", path);
        return 0;
    }
    size_t n = 0, cap = 0;
    int ok = 1;
    char **files = NULL;
    for (struct dirent *e; ok && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') continue;
        const size_t len = strlen(path) + 1 + strlen(e->d_name) + 1;
        char *full = malloc(len);
        if (!full) {
            ok = 0;
            break;
        }
        snprintf(full, len, "%s/%s", path, e->d_name);
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(full);
            continue;
        }
        if (n == cap) {
            char **p = realloc(files, (cap = cap ? 2 * cap : 64) * sizeof *files);
            if (!p) {
                free(full);
                ok = 0;
                break;
            }
            files = p;
        }
        files[n++] = full;
    }
    closedir(d);
    if (n > 1) qsort(files, n, sizeof *files, by_name);
    for (size_t i = 0; i < n; ++i) {
        if (ok) {
            if (replay_file(files[i]))
                ++*count;
            else
                ok = 0;
        }
        free(files[i]);
    }
    free(files);
    return ok;
}

int main(int argc, char **argv)
{
    long count = 0;
    int ok = 1;
    for (int i = 1; i < argc; ++i) ok &= replay_path(argv[i], &count);
    if (count == 0) {
        fprintf(stderr, "replay: no input (usage: %s FILE|FOLDER...)\n", argv[0]);
        return 2;
    }
    printf("replay: %ld input(s) ran\n", count);
    return ok ? 0 : 2;
}
