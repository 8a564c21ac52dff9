/*
 * progress.c: progress of a job on stderr: a bar redrawn in place on a terminal (clips/s, audio-hours/s,
 * errors, ETA), or a plain line every --progress-every seconds otherwise (logs of batch jobs).
 */
#define _GNU_SOURCE

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

/* State of the display (one job per process). */
static struct {
    int mode;         /* AFX_PROGRESS_BAR / LINES / NONE */
    int bar_visible;  /* a bar is on the current line */
    double last;      /* time of the last line or redraw */
} disp;

double afx_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void afx_progress_start(job_run *r)
{
    const afx_job_config *cfg = r->cfg;
    disp.mode = cfg->quiet ? AFX_PROGRESS_NONE : (int)cfg->progress;
    if (disp.mode == AFX_PROGRESS_AUTO)
        disp.mode = isatty(STDERR_FILENO) ? AFX_PROGRESS_BAR : AFX_PROGRESS_LINES;
    disp.bar_visible = 0;
    disp.last = afx_now();
}

/* "1:02:03" or "2:03". */
static void fmt_duration(char *buf, size_t size, double s)
{
    if (s < 0 || s > 1e7) {
        snprintf(buf, size, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

void afx_progress_tick(job_run *r, int final)
{
    if (disp.mode == AFX_PROGRESS_NONE)
        return;
    double now = afx_now();
    double every = disp.mode == AFX_PROGRESS_BAR ? 0.25 : (r->cfg->progress_every > 0 ? r->cfg->progress_every : 30);
    if (!final && now - disp.last < every)
        return;
    if (final && disp.mode == AFX_PROGRESS_LINES)
        return; /* the summary follows */
    disp.last = now;
    double wall = now - r->t_start;
    int64_t total = r->n_todo, done = r->n_done;
    double rate = wall > 0 ? (double)done / wall : 0.0;
    double hours_rate = wall > 0 ? r->audio_seconds / 3600.0 / wall : 0.0;
    char eta[32];
    fmt_duration(eta, sizeof eta, rate > 0 ? (double)(total - done) / rate : -1.0);
    if (disp.mode == AFX_PROGRESS_LINES) {
        fprintf(stderr, "afx: %lld/%lld clips, %.1f clips/s, %.3f audio-h/s, %lld errors, ETA %s\n", (long long)done,
                (long long)total, rate, hours_rate, (long long)r->n_failed, eta);
        return;
    }
    const int width = 24;
    int filled = total > 0 ? (int)((double)width * (double)done / (double)total) : width;
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r[%s] %lld/%lld  %.1f clips/s  %.3f audio-h/s  %lld errors  ETA %s\033[K", bar,
            (long long)done, (long long)total, rate, hours_rate, (long long)r->n_failed, eta);
    if (final) {
        fputc('\n', stderr);
        disp.bar_visible = 0;
    } else {
        disp.bar_visible = 1;
    }
    fflush(stderr);
}

void afx_progress_message(job_run *r, const char *line)
{
    (void)r;
    if (disp.bar_visible) {
        fputs("\r\033[K", stderr);
        disp.bar_visible = 0;
        disp.last = 0; /* redraw at the next tick */
    }
    fprintf(stderr, "%s\n", line);
}
