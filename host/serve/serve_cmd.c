/*
 * serve_cmd.c: `afx serve`, the feature service (afx_main.c dispatches here).
 *
 *   afx serve [--host 127.0.0.1] [--port 8080] [--backend cpu|cuda|auto] [--workers N] [--models FILE]
 *             [--token-file FILE] [limits...]
 *
 * Start-up: options, models (built-in presets and --models), one trial plan (so a missing CUDA
 * device is an error here, exit 2), the batcher's workers, then libmicrohttpd. The line
 * "afx serve: listening on http://HOST:PORT ..." on stdout says it is ready (with --port 0, which port
 * the system chose). SIGTERM or SIGINT: readiness turns 503, the listening socket closes, requests
 * already received are answered (at most --drain-seconds), then the process exits 0 (1 if the drain
 * had to cut requests short).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../cli/commands.h"
#include "serve.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

typedef struct serve_options {
    const char *host, *token_file, *models_file;
    int port, workers, threads_per_worker, max_batch, max_queue, http_threads, max_connections, quiet;
    afx_backend backend;
    long max_queue_delay_us;
    double max_body_mb, max_clip_seconds, request_timeout_s, drain_seconds;
} serve_options;

static void defaults(serve_options *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->backend = AFX_BACKEND_CPU;
    o->workers = 0;            /* 0: online cores (CPU) or CUDA devices */
    o->threads_per_worker = 1;
    o->max_batch = 32;
    o->max_queue_delay_us = -1; /* -1: 0 on the CPU, 1000 with CUDA */
    o->max_queue = 256;
    o->max_body_mb = 64;
    o->max_clip_seconds = 600;
    o->request_timeout_s = 60;
    o->drain_seconds = 30;
    o->http_threads = 2;
    o->max_connections = 512;
}

void afx_serve_print_help(FILE *f)
{
    fprintf(f,
            "Usage: afx serve [options]\n"
            "Serves features over HTTP: POST /v1/features (audio file or raw PCM -> .npy or JSON) and the Open\n"
            "Inference Protocol (KServe v2: /v2/models/{name}/infer, JSON and binary tensors), with dynamic batching.\n"
            "\n"
            "Network\n"
            "  --host ADDR                address to bind (127.0.0.1; 0.0.0.0 or :: for every interface)\n"
            "  --port N                   TCP port (8080; 0 = any free port, printed at start-up)\n"
            "  --token-file FILE          require 'Authorization: Bearer TOKEN' with a token from FILE (one per line,\n"
            "                             '#' comments) on every endpoint but the health checks (off)\n"
            "  --http-threads N           HTTP threads (2)\n"
            "  --max-connections N        open connections at most (512)\n"
            "Compute\n"
            "  --backend cpu|cuda|auto    where features are computed (cpu)\n"
            "  --workers N                worker threads, one plan set each (online cores on the CPU; one per GPU)\n"
            "  --threads-per-worker N     afx cpu_threads of each worker's plans (1)\n"
            "  --models FILE              JSON file of named feature configurations (README: Feature service)\n"
            "Batching and limits\n"
            "  --max-batch N              clips per batch (32)\n"
            "  --max-queue-delay-us US    wait this long for more requests to batch (0 on the CPU, 1000 with CUDA)\n"
            "  --max-queue N              queued clips beyond which requests get 429 (256)\n"
            "  --max-body-mb MB           largest request body (64)\n"
            "  --max-clip-seconds S       longest clip after decoding (600)\n"
            "  --request-timeout S        idle connection timeout and longest wait in the queue, then 503 (60)\n"
            "  --drain-seconds S          on SIGTERM, time given to requests already received (30)\n"
            "  -q, --quiet                no start-up and shutdown lines on stderr\n"
            "  -h, --help                 show this help\n");
}

/* Parses a number option into [lo, hi]. */
static int number_opt(const char *name, const char *text, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0' || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "afx serve: --%s %s: expected a number in %g..%g\n", name, text, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int int_opt(const char *name, const char *text, long lo, long hi, long *out)
{
    double v = 0;
    if (number_opt(name, text, (double)lo, (double)hi, &v) != 0) return -1;
    if (v != floor(v)) {
        fprintf(stderr, "afx serve: --%s %s: expected an integer\n", name, text);
        return -1;
    }
    *out = (long)v;
    return 0;
}

/* Returns 0 to run, 1 after --help, -1 on a usage error. */
static int parse_options(int argc, char **argv, serve_options *o)
{
    static const struct option longs[] = {
        {"host", required_argument, NULL, 'H'},          {"port", required_argument, NULL, 'p'},
        {"token-file", required_argument, NULL, 't'},    {"http-threads", required_argument, NULL, 'T'},
        {"max-connections", required_argument, NULL, 'C'}, {"backend", required_argument, NULL, 'b'},
        {"workers", required_argument, NULL, 'w'},       {"threads-per-worker", required_argument, NULL, 'j'},
        {"models", required_argument, NULL, 'm'},        {"max-batch", required_argument, NULL, 'B'},
        {"max-queue-delay-us", required_argument, NULL, 'd'}, {"max-queue", required_argument, NULL, 'Q'},
        {"max-body-mb", required_argument, NULL, 'M'},   {"max-clip-seconds", required_argument, NULL, 'S'},
        {"request-timeout", required_argument, NULL, 'R'}, {"drain-seconds", required_argument, NULL, 'D'},
        {"quiet", no_argument, NULL, 'q'},               {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    optind = 1;
    opterr = 0;
    int c;
    long v = 0;
    while ((c = getopt_long(argc, argv, ":qh", longs, NULL)) != -1) {
        const char *name = NULL;
        for (const struct option *l = longs; l->name; l++)
            if (l->val == c) name = l->name;
        int bad = 0;
        switch (c) {
        case 'H': o->host = optarg; break;
        case 'p': bad = int_opt(name, optarg, 0, 65535, &v); o->port = (int)v; break;
        case 't': o->token_file = optarg; break;
        case 'T': bad = int_opt(name, optarg, 1, 256, &v); o->http_threads = (int)v; break;
        case 'C': bad = int_opt(name, optarg, 1, 1000000, &v); o->max_connections = (int)v; break;
        case 'b': {
            int b = afx_enum_value(AFX_ENUM_BACKEND, optarg);
            if (b < 0) {
                fprintf(stderr, "afx serve: --backend %s: expected cpu, cuda or auto\n", optarg);
                bad = -1;
            }
            o->backend = (afx_backend)b;
            break;
        }
        case 'w': bad = int_opt(name, optarg, 1, 4096, &v); o->workers = (int)v; break;
        case 'j': bad = int_opt(name, optarg, 0, 1024, &v); o->threads_per_worker = (int)v; break;
        case 'm': o->models_file = optarg; break;
        case 'B': bad = int_opt(name, optarg, 1, 65536, &v); o->max_batch = (int)v; break;
        case 'd': bad = int_opt(name, optarg, 0, 10000000, &v); o->max_queue_delay_us = v; break;
        case 'Q': bad = int_opt(name, optarg, 1, 10000000, &v); o->max_queue = (int)v; break;
        case 'M': bad = number_opt(name, optarg, 0.001, 65536, &o->max_body_mb); break;
        case 'S': bad = number_opt(name, optarg, 0.001, 1e6, &o->max_clip_seconds); break;
        case 'R': bad = number_opt(name, optarg, 1, 86400, &o->request_timeout_s); break;
        case 'D': bad = number_opt(name, optarg, 0, 86400, &o->drain_seconds); break;
        case 'q': o->quiet = 1; break;
        case 'h': afx_serve_print_help(stdout); return 1;
        case ':': fprintf(stderr, "afx serve: %s needs a value\n", argv[optind - 1]); return -1;
        default: fprintf(stderr, "afx serve: unknown option '%s' (afx serve --help)\n", argv[optind - 1]); return -1;
        }
        if (bad) return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "afx serve: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* Reads the bearer tokens of --token-file. Returns 0, or -1 after printing why. */
static int read_tokens(const char *path, serve_server *s)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "afx serve: --token-file %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0007))
        fprintf(stderr, "afx serve: warning: %s is readable by every user (chmod 600 it)\n", path);
    char line[4096];
    int status = 0;
    while (status == 0 && fgets(line, sizeof line, f)) {
        char *a = line, *e = line + strlen(line);
        while (*a == ' ' || *a == '\t') a++;
        while (e > a && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) *--e = '\0';
        if (*a == '\0' || *a == '#') continue;
        char **t = realloc(s->tokens, (size_t)(s->n_tokens + 1) * sizeof *t);
        char *copy = strdup(a);
        if (!t || !copy) {
            free(copy);
            if (t) s->tokens = t;
            fprintf(stderr, "afx serve: out of memory\n");
            status = -1;
            break;
        }
        s->tokens = t;
        s->tokens[s->n_tokens++] = copy;
    }
    fclose(f);
    if (status == 0 && s->n_tokens == 0) {
        fprintf(stderr, "afx serve: --token-file %s holds no token\n", path);
        status = -1;
    }
    return status;
}

static void free_server(serve_server *s)
{
    serve_batcher_free(s->batcher);
    serve_metrics_free(s->metrics);
    serve_models_free(&s->models);
    for (int i = 0; i < s->n_tokens; i++) free(s->tokens[i]);
    free(s->tokens);
    free(s->presets_json);
    serve_valid_cache_free(s->valid);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->mu);
}

/* Waits until no request is in flight or `until` (monotonic) passes, expiring queued jobs meanwhile. */
static int wait_idle(serve_server *s, double until)
{
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int n = s->inflight;
        pthread_mutex_unlock(&s->mu);
        if (n == 0) return 1;
        double now = serve_now();
        if (now >= until) return 0;
        if (s->batcher) serve_batcher_expire(s->batcher, now);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Checks that a plan can be made on the chosen backend (e.g. a CUDA device is usable). */
static int trial_plan(const serve_server *s)
{
    afx_params p;
    afx_params_init(&p);
    p.backend = s->limits.backend;
    p.max_batch = s->limits.max_batch;
    p.max_samples = 16000;
    char err[AFX_ERROR_MAX];
    afx_plan *plan = NULL;
    if (afx_plan_create(&p, &plan, err, sizeof err) != AFX_OK) {
        fprintf(stderr, "afx serve: cannot compute on backend %s: %s\n", afx_backend_name(p.backend), err);
        return -1;
    }
    afx_plan_free(plan);
    return 0;
}

int afx_cmd_serve(int argc, char **argv)
{
    serve_options o;
    defaults(&o);
    int r = parse_options(argc, argv, &o);
    if (r != 0) return r > 0 ? EXIT_OK : EXIT_USAGE;

    serve_server s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.idle, NULL);
    atomic_init(&s.draining, 0);

    /* backend and workers */
    afx_backend backend = o.backend;
    int devices = afx_cuda_device_count();
    if (backend == AFX_BACKEND_AUTO) backend = devices > 0 ? AFX_BACKEND_CUDA : AFX_BACKEND_CPU;
    if (backend == AFX_BACKEND_CUDA && devices == 0) {
        fprintf(stderr, "afx serve: --backend cuda: no usable CUDA device (or this afx is built without CUDA)\n");
        free_server(&s);
        return EXIT_USAGE;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int workers = o.workers > 0 ? o.workers : backend == AFX_BACKEND_CUDA ? devices : (int)(cores > 0 ? cores : 1);

    s.host = o.host;
    s.port = o.port;
    s.http_threads = o.http_threads;
    s.max_connections = o.max_connections;
    s.max_body_bytes = (size_t)(o.max_body_mb * 1048576.0);
    s.request_timeout_s = o.request_timeout_s;
    s.limits.backend = backend;
    s.limits.max_batch = o.max_batch;
    s.limits.max_clip_seconds = o.max_clip_seconds;
    serve_batcher_config *bc = &s.batching;
    bc->n_workers = workers;
    bc->backend = backend;
    bc->n_devices = backend == AFX_BACKEND_CUDA ? devices : 0;
    bc->cpu_threads = o.threads_per_worker;
    bc->max_batch = o.max_batch;
    bc->max_queue_delay_us = o.max_queue_delay_us >= 0 ? o.max_queue_delay_us : backend == AFX_BACKEND_CUDA ? 1000 : 0;
    bc->max_queue_clips = o.max_queue;
    bc->request_timeout_s = o.request_timeout_s;
    bc->max_clip_seconds = o.max_clip_seconds;
    bc->initial_plan_seconds = o.max_clip_seconds < 30 ? o.max_clip_seconds : 30;

    char err[SERVE_ERR_MAX];
    if (o.token_file && read_tokens(o.token_file, &s) != 0) {
        free_server(&s);
        return EXIT_USAGE;
    }
    if (serve_models_add_builtin(&s.models, &s.limits, err, sizeof err) != 0 ||
        (o.models_file && serve_models_load_file(&s.models, o.models_file, &s.limits, err, sizeof err) != 0)) {
        fprintf(stderr, "afx serve: models: %s\n", err);
        free_server(&s);
        return EXIT_USAGE;
    }
    if (trial_plan(&s) != 0 || serve_build_presets_json(&s) != 0 || !(s.valid = serve_valid_cache_create())) {
        free_server(&s);
        return EXIT_USAGE;
    }

    /* Signals go to this thread only (sigtimedwait below): block them before any thread starts. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    s.metrics = serve_metrics_create();
    if (!s.metrics || serve_batcher_start(&s.batcher, bc, s.metrics, err, sizeof err) != 0 ||
        serve_http_start(&s, err, sizeof err) != 0) {
        fprintf(stderr, "afx serve: %s\n", s.metrics ? err : "out of memory");
        if (s.batcher) serve_batcher_stop(s.batcher, 0);
        free_server(&s);
        return EXIT_FAILED;
    }
    printf("afx serve: listening on http://%s%s%s:%d (%s backend, %d workers, max batch %d, %d models)\n",
           strchr(o.host, ':') ? "[" : "", o.host, strchr(o.host, ':') ? "]" : "", s.bound_port,
           afx_backend_name(backend), workers, o.max_batch, s.models.n);
    fflush(stdout);

    int sig = 0;
    while (sig <= 0) {
        struct timespec tick = {0, 100 * 1000 * 1000};
        sig = sigtimedwait(&sigs, NULL, &tick);
        serve_batcher_expire(s.batcher, serve_now());
    }

    /* Drain: refuse new work, let what was received finish. */
    atomic_store(&s.draining, 1);
    serve_http_quiesce(&s);
    pthread_mutex_lock(&s.mu);
    int pending = s.inflight;
    pthread_mutex_unlock(&s.mu);
    if (!o.quiet)
        fprintf(stderr, "afx serve: %s received, draining %d request(s) (at most %g s)\n", strsignal(sig), pending,
                o.drain_seconds);
    int clean = wait_idle(&s, serve_now() + o.drain_seconds);
    serve_batcher_stop(s.batcher, clean); /* not clean: queued jobs fail with 503 and their connections resume */
    if (!clean) wait_idle(&s, serve_now() + 5);
    serve_http_stop(&s);
    if (!o.quiet)
        fprintf(stderr, "afx serve: stopped%s\n", clean ? "" : " (the drain timed out: requests were answered 503)");
    free_server(&s);
    return clean ? EXIT_OK : EXIT_FAILED;
}
