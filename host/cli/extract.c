/*
 * extract.c: `afx extract`, the feature-extraction command of the `afx` tool (afx_main.c dispatches).
 *
 *   afx extract [options] INPUT... -o OUTDIR
 *
 * decodes every INPUT (afx_audio_load_file: downmix to mono, resample to --sample-rate), computes
 * its features with ONE afx_plan for the whole run, batching --batch-size clips per
 * afx_plan_execute call, and writes OUTDIR/<input basename without extension>.npy (float32, C order):
 * (n_features, n_frames) for --layout ft, (n_frames, n_features) for tf, a 1-D vector with pooling.
 *
 * Exit status: 0 all inputs done; 1 at least one input failed (the others are still processed, each
 * failure is one line on stderr); 2 usage error (unknown option, bad value, invalid parameters,
 * unavailable backend) before any input is decoded or OUTDIR created.
 *
 * Every option is a row of OPTIONS below: parsing, --help and its defaults all come from that table
 * and from afx_params_init(), so no default is written twice.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "afx.h"
#include "afx_audio.h"
#include "commands.h"
#include "npy.h"

enum { EXIT_ALL_OK = 0, EXIT_SOME_FAILED = 1, EXIT_USAGE = 2 };

/* Seconds of audio the first plan is sized for; it grows geometrically when a longer clip comes. */
#define INITIAL_PLAN_SECONDS 30
/* Upper limit of afx_params.max_samples (2^40, see afx.h). */
#define MAX_PLAN_SAMPLES ((int64_t)1 << 40)

/* ---------------------------------------------------------------------------------------------- */
/* Option table                                                                                   */
/* ---------------------------------------------------------------------------------------------- */

/* Enum fields are written through an int lvalue; make sure they have int's size. */
_Static_assert(sizeof(afx_backend) == sizeof(int) && sizeof(afx_feature) == sizeof(int) &&
                   sizeof(afx_window) == sizeof(int) && sizeof(afx_pad_mode) == sizeof(int) &&
                   sizeof(afx_mel_scale) == sizeof(int) && sizeof(afx_mel_norm) == sizeof(int) &&
                   sizeof(afx_log_type) == sizeof(int) && sizeof(afx_normalize) == sizeof(int) &&
                   sizeof(afx_mask_value) == sizeof(int) && sizeof(afx_pooling) == sizeof(int) &&
                   sizeof(afx_layout) == sizeof(int),
               "afx enums must be int-sized");

typedef enum opt_kind {
    OPT_HEADING,   /* not an option: a section title in --help */
    OPT_INT,       /* int field = parsed integer */
    OPT_FLOAT,     /* float field = parsed finite number */
    OPT_ENUM,      /* enum field = value of the word */
    OPT_SET_INT,   /* flag: int field = set_value */
    OPT_SET_FLOAT, /* flag: float field = set_value */
    OPT_SEED,      /* dither_seed = mask_seed = parsed unsigned 64-bit integer */
    OPT_PRESET,    /* --preset NAME: afx_params_preset before every other option */
    OPT_OUTPUT,    /* -o DIR */
    OPT_QUIET,     /* -q */
    OPT_HELP       /* -h */
} opt_kind;

typedef struct cli_option {
    opt_kind kind;
    const char *name;        /* long name without "--" (heading text for OPT_HEADING) */
    const char *field;       /* name of the afx_params field it sets (NULL if none) */
    int short_name;          /* single-letter alias or 0 */
    size_t offset;           /* field of afx_params */
    afx_enum_kind enum_kind; /* OPT_ENUM: whose names (afx_enum_name) the option accepts */
    int enum_limit;          /* OPT_ENUM: accept only values below this (0: every value) */
    double set_value;        /* OPT_SET_INT / OPT_SET_FLOAT */
    const char *metavar;     /* value placeholder in --help (enums list their words) */
    const char *help;
} cli_option;

#define FIELD(f) offsetof(afx_params, f)
#define HEADING(t) {.kind = OPT_HEADING, .name = (t)}
#define INT_OPT(n, f, mv, h) {.kind = OPT_INT, .name = (n), .field = #f, .offset = FIELD(f), .metavar = (mv), .help = (h)}
#define FLOAT_OPT(n, f, mv, h) {.kind = OPT_FLOAT, .name = (n), .field = #f, .offset = FIELD(f), .metavar = (mv), .help = (h)}
#define ENUM_OPT(n, f, k, lim, h)                                                                        \
    {.kind = OPT_ENUM, .name = (n), .field = #f, .offset = FIELD(f), .enum_kind = (k), .enum_limit = (lim), \
     .help = (h)}
#define SET_INT(n, f, v, h) {.kind = OPT_SET_INT, .name = (n), .offset = FIELD(f), .set_value = (v), .help = (h)}
#define SET_FLOAT(n, f, v, h) {.kind = OPT_SET_FLOAT, .name = (n), .offset = FIELD(f), .set_value = (v), .help = (h)}

static const cli_option OPTIONS[] = {
    HEADING("Preset (applied first, for the chosen --feature; every other option overrides it)"),
    {.kind = OPT_PRESET, .name = "preset", .enum_kind = AFX_ENUM_PRESET,
     .help = "a peer library's defaults: see the README's preset table"},

    HEADING("Execution"),
    ENUM_OPT("backend", backend, AFX_ENUM_BACKEND, 0, "where to compute"),
    INT_OPT("cuda-device", cuda_device, "N", "CUDA device ordinal for --backend cuda|auto"),
    INT_OPT("batch-size", max_batch, "N", "clips per execute call"),
    {.kind = OPT_OUTPUT, .name = "output", .short_name = 'o', .metavar = "DIR",
     .help = "output folder, created if missing (required)"},
    {.kind = OPT_QUIET, .name = "quiet", .short_name = 'q', .help = "no summary line at the end"},
    {.kind = OPT_HELP, .name = "help", .short_name = 'h', .help = "show this help and exit"},

    HEADING("Input"),
    INT_OPT("sample-rate", sample_rate, "HZ", "decode and resample every input to this rate"),
    FLOAT_OPT("input-scale", input_scale, "X", "multiply every sample by X"),
    SET_FLOAT("int16-scale", input_scale, 32768.0, "Kaldi-style int16 scaling (input scale 32768)"),
    FLOAT_OPT("dither", dither, "X", "Kaldi dither: std of Gaussian noise added per frame"),
    {.kind = OPT_SEED, .name = "seed", .field = "dither_seed", .offset = FIELD(dither_seed), .metavar = "N",
     .help = "seed of the dither noise and of the masks"},
    SET_INT("remove-dc", remove_dc_offset, 1, "subtract each frame's mean (Kaldi)"),
    SET_INT("no-remove-dc", remove_dc_offset, 0, "keep each frame's mean"),
    FLOAT_OPT("preemphasis", preemphasis, "C", "per-frame pre-emphasis coefficient (Kaldi)"),

    HEADING("Framing and STFT"),
    INT_OPT("n-fft", n_fft, "N", "FFT size"),
    INT_OPT("win-length", win_length, "N", "window length in samples (0 = n-fft)"),
    INT_OPT("hop-length", hop_length, "N", "frame step in samples"),
    SET_INT("round-pow2", round_to_power_of_two, 1, "FFT size = next power of two >= win-length (Kaldi)"),
    SET_INT("no-round-pow2", round_to_power_of_two, 0, "FFT size = --n-fft"),
    ENUM_OPT("window", window, AFX_ENUM_WINDOW, 0, "window function"),
    SET_INT("periodic-window", window_periodic, 1, "periodic window (torch, librosa)"),
    SET_INT("symmetric-window", window_periodic, 0, "symmetric window (Kaldi, numpy)"),
    SET_INT("center", center, 1, "pad n-fft/2 samples on each side (librosa, torch)"),
    SET_INT("no-center", center, 0, "no centre padding"),
    ENUM_OPT("pad-mode", pad_mode, AFX_ENUM_PAD_MODE, 0, "padding used with --center"),
    SET_INT("snip-edges", snip_edges, 1, "with --no-center: only frames that fit in the clip (Kaldi)"),
    SET_INT("no-snip-edges", snip_edges, 0, "with --no-center: Kaldi frames mirrored at the edges"),
    FLOAT_OPT("power", power, "P", "spectrogram exponent (1 magnitude, 2 power)"),
    SET_INT("drop-last-frame", drop_last_frame, 1, "drop each clip's last frame (Whisper)"),
    SET_INT("no-drop-last-frame", drop_last_frame, 0, "keep every frame"),

    HEADING("Feature"),
    ENUM_OPT("feature", feature, AFX_ENUM_FEATURE, 0, "what to compute"),
    INT_OPT("n-mels", n_mels, "N", "number of mel filters"),
    FLOAT_OPT("f-min", f_min, "HZ", "lowest mel filter edge"),
    FLOAT_OPT("f-max", f_max, "HZ", "highest mel filter edge (0 = Nyquist, < 0 = Nyquist + value)"),
    ENUM_OPT("mel-scale", mel_scale, AFX_ENUM_MEL_SCALE, 0, "mel formula"),
    ENUM_OPT("mel-norm", mel_norm, AFX_ENUM_MEL_NORM, 0, "mel filter normalization"),
    SET_INT("mel-linspace-freqs", mel_linspace_freqs, 1, "bin k at k*(sr//2)/(n-fft/2) Hz (torchaudio)"),
    SET_INT("allow-empty-mel", mel_allow_empty, 1, "a mel filter covering no FFT bin outputs 0 (torchaudio)"),
    SET_INT("no-allow-empty-mel", mel_allow_empty, 0, "refuse such filterbanks"),
    SET_INT("no-mel-linspace-freqs", mel_linspace_freqs, 0, "bin k at k*sr/n-fft Hz (librosa, Kaldi, tf)"),
    ENUM_OPT("log", log_base, AFX_ENUM_LOG_TYPE, AFX_LOG_DB, "logarithm of --feature logmel"),
    FLOAT_OPT("log-floor", log_floor, "X", "log(max(x + offset, floor))"),
    FLOAT_OPT("log-offset", log_offset, "X", "added before the log"),
    FLOAT_OPT("db-multiplier", db_multiplier, "X", "10 for power, 20 for magnitude"),
    FLOAT_OPT("ref", db_ref, "X", "dB reference value"),
    FLOAT_OPT("amin", db_amin, "X", "floor before the dB log"),
    FLOAT_OPT("top-db", top_db, "DB", "per clip: out >= max - top-db (negative disables)"),
    FLOAT_OPT("log-range", log_range, "X", "ln/log10 log-mel per clip: out >= max - X (Whisper 8; < 0 disables)"),
    FLOAT_OPT("out-scale", out_scale, "X", "output = value * X + out-bias, before --normalize (Whisper 0.25)"),
    FLOAT_OPT("out-bias", out_bias, "X", "see --out-scale (Whisper 1)"),
    INT_OPT("n-mfcc", n_mfcc, "N", "MFCC coefficients kept"),
    ENUM_OPT("mfcc-log", mfcc_log, AFX_ENUM_LOG_TYPE, 0, "log of the mel spectrum before the DCT"),
    FLOAT_OPT("lifter", cepstral_lifter, "Q", "Kaldi cepstral lifter (0 disables)"),
    ENUM_OPT("dct-norm", dct_norm, AFX_ENUM_DCT_NORM, 0, "MFCC DCT scaling: ortho, or tf (every row sqrt(2/N))"),
    SET_INT("mfcc-energy", mfcc_energy, 1, "Kaldi use-energy: c0 = log frame energy"),
    SET_INT("no-mfcc-energy", mfcc_energy, 0, "c0 from the DCT"),
    SET_INT("raw-energy", raw_energy, 1, "energy before pre-emphasis and window (Kaldi raw-energy true)"),
    SET_INT("no-raw-energy", raw_energy, 0, "energy after pre-emphasis and window (Kaldi raw-energy false)"),
    FLOAT_OPT("energy-floor", energy_floor, "X", "Kaldi energy floor (0 disables)"),

    HEADING("Post-processing"),
    ENUM_OPT("normalize", normalize, AFX_ENUM_NORMALIZE, 0, "per-clip normalization"),
    SET_INT("no-norm-vars", norm_vars, 0, "normalize the mean only, not the variance"),
    FLOAT_OPT("norm-eps", norm_eps, "X", "(x - mean) / sqrt(var + eps)"),
    INT_OPT("time-masks", n_time_masks, "N", "SpecAugment time masks per clip"),
    INT_OPT("time-mask-param", time_mask_param, "T", "widest time mask in frames"),
    INT_OPT("freq-masks", n_freq_masks, "N", "SpecAugment frequency masks per clip"),
    INT_OPT("freq-mask-param", freq_mask_param, "F", "widest frequency mask in bins"),
    ENUM_OPT("mask-value", mask_value, AFX_ENUM_MASK_VALUE, 0, "what masked elements become"),
    ENUM_OPT("pool", pooling, AFX_ENUM_POOLING, 0, "pool over time into one vector per clip"),
    ENUM_OPT("layout", layout, AFX_ENUM_LAYOUT, 0, "ft: (features, frames), tf: (frames, features)"),
};
#define N_OPTIONS (sizeof OPTIONS / sizeof OPTIONS[0])

/* Everything the extract command needs besides afx_params. */
typedef struct cli_config {
    const char *outdir;
    int quiet;
    char *const *inputs;
    int n_inputs;
} cli_config;

/* ---------------------------------------------------------------------------------------------- */
/* Small helpers                                                                                  */
/* ---------------------------------------------------------------------------------------------- */

/* Pointer to the int (or int-sized enum) field at `offset` of *p. */
static int *int_field(afx_params *p, size_t offset) { return (int *)(void *)((char *)p + offset); }
static float *float_field(afx_params *p, size_t offset) { return (float *)(void *)((char *)p + offset); }
static int int_value(const afx_params *p, size_t offset) { return *(const int *)(const void *)((const char *)p + offset); }
static float float_value(const afx_params *p, size_t offset)
{
    return *(const float *)(const void *)((const char *)p + offset);
}

/* Whether the option accepts enum value v (which afx_enum_name knows). */
static int enum_accepts(const cli_option *o, int v) { return o->enum_limit == 0 || v < o->enum_limit; }

/* Name of an enum value, "?" if none. */
static const char *enum_word_of(const cli_option *o, int value)
{
    const char *name = afx_enum_name(o->enum_kind, value);
    return name ? name : "?";
}

/* Writes "a|b|c" (the names the option accepts) into buf. */
static void enum_choices(const cli_option *o, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int v = 0; afx_enum_name(o->enum_kind, v) != NULL && enum_accepts(o, v) && len < size; v++) {
        int n = snprintf(buf + len, size - len, "%s%s", len ? "|" : "", afx_enum_name(o->enum_kind, v));
        if (n < 0)
            break;
        len += (size_t)n;
    }
}

/* Replaces newlines and tabs of a message by spaces so that it prints as one line. */
static void one_line(char *msg)
{
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
}

/* Monotonic clock in seconds. */
static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------------------------------------- */
/* Help                                                                                           */
/* ---------------------------------------------------------------------------------------------- */

/* Writes the default of option `o`, as afx_params_init() sets it, into buf ("" if it has none). */
static void option_default(const cli_option *o, const afx_params *d, char *buf, size_t size)
{
    buf[0] = '\0';
    switch (o->kind) {
    case OPT_INT: snprintf(buf, size, "%d", int_value(d, o->offset)); break;
    case OPT_FLOAT: snprintf(buf, size, "%g", (double)float_value(d, o->offset)); break;
    case OPT_ENUM: snprintf(buf, size, "%s", enum_word_of(o, int_value(d, o->offset))); break;
    case OPT_SET_INT: snprintf(buf, size, "%s", int_value(d, o->offset) == (int)o->set_value ? "on" : "off"); break;
    case OPT_SET_FLOAT:
        snprintf(buf, size, "%s", float_value(d, o->offset) == (float)o->set_value ? "on" : "off");
        break;
    case OPT_SEED: snprintf(buf, size, "%" PRIu64, d->dither_seed); break;
    default: break;
    }
}

/* Prints one option line: "  -o, --output DIR   help (default: x)". */
static void print_option(FILE *f, const cli_option *o, const afx_params *d)
{
    char choices[128] = "";
    if (o->kind == OPT_ENUM || o->kind == OPT_PRESET)
        enum_choices(o, choices, sizeof choices);
    const char *metavar = (o->kind == OPT_ENUM || o->kind == OPT_PRESET) ? choices : (o->metavar ? o->metavar : "");

    char left[192];
    if (o->short_name)
        snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name, *metavar ? " " : "", metavar);
    else
        snprintf(left, sizeof left, "    --%s%s%s", o->name, *metavar ? " " : "", metavar);

    char def[64];
    option_default(o, d, def, sizeof def);
    fprintf(f, "  %-36s %s", left, o->help);
    if (def[0])
        fprintf(f, " (default: %s)", def);
    fputc('\n', f);
}

/* Short usage, for errors. */
void afx_extract_print_usage(FILE *f)
{
    fprintf(f, "Usage: afx extract [options] INPUT... -o OUTDIR\n"
               "       afx --help | --version\n"
               "Try 'afx --help' for the list of options.\n");
}

/* Full help: usage, description and every option with its default. */
void afx_extract_print_help(FILE *f)
{
    afx_params d;
    afx_params_init(&d);
    fprintf(f,
            "afx %s: audio feature extraction (spectrogram, mel, log-mel, dB, MFCC)\n\n"
            "Usage: afx extract [options] INPUT... -o OUTDIR\n"
            "       afx --help | --version\n\n"
            "Decodes every INPUT (WAV, FLAC, Ogg, MP3, ...), downmixes it to mono, resamples it to\n"
            "--sample-rate and writes OUTDIR/<basename without extension>.npy (float32): shape\n"
            "(n_features, n_frames) for --layout ft, (n_frames, n_features) for tf, a 1-D vector with\n"
            "--pool. Exit status: 0 success, 1 some input failed (the rest are still written),\n"
            "2 usage or parameter error. Defaults shown are those without --preset.\n",
            afx_version_string());
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (OPTIONS[i].kind == OPT_HEADING)
            fprintf(f, "\n%s:\n", OPTIONS[i].name);
        else
            print_option(f, &OPTIONS[i], &d);
    }
    fprintf(f, "\n    --version%-27s print the library version and exit (afx --version)\n", "");
}

/* ---------------------------------------------------------------------------------------------- */
/* Value parsing                                                                                  */
/* ---------------------------------------------------------------------------------------------- */

/* Parses a whole decimal integer in [INT_MIN, INT_MAX]. Returns 0 or prints why and returns -1. */
static int parse_int(const char *opt, const char *s, int *out)
{
    char *end = NULL;
    errno = 0;
    long long v = (*s == '\0' || (*s != '-' && *s != '+' && (*s < '0' || *s > '9'))) ? 0 : strtoll(s, &end, 10);
    if (end == NULL || end == s || *end != '\0') {
        fprintf(stderr, "afx: --%s: '%s' is not an integer\n", opt, s);
        return -1;
    }
    if (errno == ERANGE || v < INT_MIN || v > INT_MAX) {
        fprintf(stderr, "afx: --%s: '%s' is out of range\n", opt, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Parses a whole unsigned 64-bit decimal integer. Returns 0 or prints why and returns -1. */
static int parse_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = (*s >= '0' && *s <= '9') ? strtoull(s, &end, 10) : 0;
    if (end == NULL || *end != '\0') {
        fprintf(stderr, "afx: --%s: '%s' is not a non-negative integer\n", opt, s);
        return -1;
    }
    if (errno == ERANGE) {
        fprintf(stderr, "afx: --%s: '%s' is out of range\n", opt, s);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* Parses a whole finite number representable as a float. Returns 0 or prints why and returns -1. */
static int parse_float(const char *opt, const char *s, float *out)
{
    char *end = NULL;
    errno = 0;
    int plausible = *s != '\0' && (*s == '-' || *s == '+' || *s == '.' || (*s >= '0' && *s <= '9'));
    double v = plausible ? strtod(s, &end) : 0.0;
    if (end == NULL || end == s || *end != '\0') {
        fprintf(stderr, "afx: --%s: '%s' is not a number\n", opt, s);
        return -1;
    }
    if (errno == ERANGE && isfinite(v) == 0) {
        fprintf(stderr, "afx: --%s: '%s' is out of range\n", opt, s);
        return -1;
    }
    if (!isfinite(v)) {
        fprintf(stderr, "afx: --%s: '%s' is not a finite number\n", opt, s);
        return -1;
    }
    if (errno == ERANGE || fabs(v) > (double)FLT_MAX || (v != 0.0 && fabs(v) < (double)FLT_MIN)) {
        fprintf(stderr, "afx: --%s: '%s' is out of range for a 32-bit float\n", opt, s);
        return -1;
    }
    *out = (float)v;
    return 0;
}

/* Parses an enum name. Returns 0 or prints the accepted names and returns -1. */
static int parse_enum(const cli_option *o, const char *s, int *out)
{
    int v = afx_enum_value(o->enum_kind, s);
    if (v >= 0 && enum_accepts(o, v)) {
        *out = v;
        return 0;
    }
    char choices[128];
    enum_choices(o, choices, sizeof choices);
    fprintf(stderr, "afx: --%s: unknown value '%s' (expected one of %s)\n", o->name, s, choices);
    return -1;
}

/* Applies one parsed option. Returns 0, or -1 after printing why the value is refused. */
static int apply_option(const cli_option *o, const char *arg, afx_params *p, cli_config *cfg)
{
    switch (o->kind) {
    case OPT_INT: {
        int v = 0;
        if (parse_int(o->name, arg, &v) != 0)
            return -1;
        *int_field(p, o->offset) = v;
        return 0;
    }
    case OPT_FLOAT: return parse_float(o->name, arg, float_field(p, o->offset));
    case OPT_ENUM: return parse_enum(o, arg, int_field(p, o->offset));
    case OPT_SET_INT: *int_field(p, o->offset) = (int)o->set_value; return 0;
    case OPT_SET_FLOAT: *float_field(p, o->offset) = (float)o->set_value; return 0;
    case OPT_SEED: {
        uint64_t seed = 0;
        if (parse_u64(o->name, arg, &seed) != 0)
            return -1;
        p->dither_seed = seed;
        p->mask_seed = seed;
        return 0;
    }
    case OPT_OUTPUT: cfg->outdir = arg; return 0;
    case OPT_QUIET: cfg->quiet = 1; return 0;
    default: return 0;
    }
}

/* Does option `o` take a value? */
static int takes_value(const cli_option *o)
{
    return o->kind == OPT_INT || o->kind == OPT_FLOAT || o->kind == OPT_ENUM || o->kind == OPT_SEED ||
           o->kind == OPT_OUTPUT || o->kind == OPT_PRESET;
}

/* Index into OPTIONS of the option with this short letter, or -1. */
static int find_short(int c)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (OPTIONS[i].kind != OPT_HEADING && OPTIONS[i].short_name == c)
            return (int)i;
    return -1;
}

/* getopt_long value of a long option: 256 + its index in OPTIONS (never a short letter). */
#define LONG_ID_BASE 256

/* Prints the message for getopt's '?' or ':' result. */
static void report_getopt_error(int c, char **argv)
{
    const char *given = argv[optind - 1];
    if (optopt >= LONG_ID_BASE && c == ':')
        fprintf(stderr, "afx: option '--%s' needs a value\n", OPTIONS[optopt - LONG_ID_BASE].name);
    else if (optopt >= LONG_ID_BASE)
        fprintf(stderr, "afx: option '--%s' takes no value ('%s')\n", OPTIONS[optopt - LONG_ID_BASE].name, given);
    else if (optopt != 0 && c == ':')
        fprintf(stderr, "afx: option '-%c' needs a value\n", optopt);
    else if (optopt != 0)
        fprintf(stderr, "afx: unknown option '-%c'\n", optopt);
    else
        fprintf(stderr, "afx: unknown or ambiguous option '%s'\n", given);
}

/*
 * Parses the arguments of `afx extract` (argv[0] is "extract"). Returns 0 on success, 1 when help
 * was printed, or -1 after printing an error.
 */
static int parse_extract_args(int argc, char **argv, afx_params *p, cli_config *cfg)
{
    struct option longopts[N_OPTIONS + 1];
    char shortopts[32] = ":";
    size_t n_long = 0;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const cli_option *o = &OPTIONS[i];
        if (o->kind == OPT_HEADING)
            continue;
        longopts[n_long++] = (struct option){o->name, takes_value(o) ? required_argument : no_argument, NULL,
                                             LONG_ID_BASE + (int)i};
        if (o->short_name) {
            size_t len = strlen(shortopts);
            shortopts[len] = (char)o->short_name;
            shortopts[len + 1] = takes_value(o) ? ':' : '\0';
            shortopts[len + 2] = '\0';
        }
    }
    longopts[n_long] = (struct option){NULL, 0, NULL, 0};

    /* Pass 1: only --preset and --feature (a preset depends on the feature); pass 2: every option in
     * order, over the preset's values. optind = 0 makes glibc's getopt start afresh. */
    int preset = -1, feature = p->feature;
    for (int pass = 1; pass <= 2; pass++) {
        opterr = 0;
        optind = 0;
        int c;
        while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
            if (c == '?' || c == ':') {
                report_getopt_error(c, argv);
                return -1;
            }
            int idx = c >= LONG_ID_BASE ? c - LONG_ID_BASE : find_short(c);
            if (idx < 0 || idx >= (int)N_OPTIONS)
                return -1;
            const cli_option *o = &OPTIONS[idx];
            if (o->kind == OPT_HELP) {
                afx_extract_print_help(stdout);
                return 1;
            }
            if (pass == 1) {
                if (o->kind == OPT_PRESET && parse_enum(o, optarg, &preset) != 0)
                    return -1;
                if (o->kind == OPT_ENUM && o->offset == FIELD(feature) && parse_enum(o, optarg, &feature) != 0)
                    return -1;
                continue;
            }
            if (o->kind != OPT_PRESET && apply_option(o, optarg, p, cfg) != 0)
                return -1;
        }
        if (pass == 1 && preset >= 0) {
            char err[AFX_ERROR_MAX];
            if (afx_params_preset(p, (afx_preset)preset, (afx_feature)feature, err, sizeof err) != AFX_OK) {
                fprintf(stderr, "afx: --preset %s: %s\n", afx_enum_name(AFX_ENUM_PRESET, preset), err);
                return -1;
            }
        }
    }
    cfg->inputs = argv + optind;
    cfg->n_inputs = argc - optind;
    return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Output names and folder                                                                        */
/* ---------------------------------------------------------------------------------------------- */

/* An input and the output name it maps to. */
typedef struct job {
    const char *input;
    char *name;   /* basename without extension, malloc'd */
} job;

/* malloc'd basename of `path` without its extension ("a/b.c.wav" -> "b.c"); NULL if out of memory. */
static char *output_stem(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot != NULL && dot != base)
        len = (size_t)(dot - base);
    char *s = malloc(len + 1);
    if (s != NULL) {
        memcpy(s, base, len);
        s[len] = '\0';
    }
    return s;
}

static int compare_job_names(const void *a, const void *b)
{
    const job *x = *(const job *const *)a;
    const job *y = *(const job *const *)b;
    return strcmp(x->name, y->name);
}

/* Fills the output names and refuses empty or duplicated ones. Returns 0 or prints why and -1. */
static int make_output_names(job *jobs, int n)
{
    for (int i = 0; i < n; i++) {
        jobs[i].name = output_stem(jobs[i].input);
        if (jobs[i].name == NULL) {
            fprintf(stderr, "afx: out of memory\n");
            return -1;
        }
        if (jobs[i].name[0] == '\0') {
            fprintf(stderr, "afx: cannot derive an output name from input '%s'\n", jobs[i].input);
            return -1;
        }
    }
    job **sorted = malloc(sizeof(job *) * (size_t)n);
    if (sorted == NULL) {
        fprintf(stderr, "afx: out of memory\n");
        return -1;
    }
    for (int i = 0; i < n; i++)
        sorted[i] = &jobs[i];
    qsort(sorted, (size_t)n, sizeof *sorted, compare_job_names);
    int status = 0;
    for (int i = 1; i < n && status == 0; i++) {
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
            fprintf(stderr,
                    "afx: inputs '%s' and '%s' would both be written to '%s.npy'; rename one or run them "
                    "separately\n",
                    sorted[i - 1]->input, sorted[i]->input, sorted[i]->name);
            status = -1;
        }
    }
    free(sorted);
    return status;
}

/* mkdir -p: creates `dir` and its missing parents. Returns 0 or prints why and returns -1. */
static int make_dirs(const char *dir)
{
    size_t len = strlen(dir);
    char *path = malloc(len + 1);
    if (path == NULL) {
        fprintf(stderr, "afx: out of memory\n");
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
            fprintf(stderr, "afx: cannot create output folder '%s': %s\n", path, strerror(errno));
            status = -1;
        }
        path[i] = saved;
    }
    struct stat st;
    if (status == 0 && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
        fprintf(stderr, "afx: output path '%s' is not a folder\n", dir);
        status = -1;
    }
    free(path);
    return status;
}

/* ---------------------------------------------------------------------------------------------- */
/* Processing                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

/* State of one extract run. */
typedef struct run_state {
    const cli_config *cfg;
    afx_params params;      /* user parameters; max_samples follows the current plan */
    afx_plan *plan;
    afx_audio_options audio;
    job *jobs;
    /* per-batch arrays of max_batch entries */
    afx_audio_clip *clips;
    int *decoded;
    const void **ptrs;
    int64_t *lengths;
    int64_t *n_frames;
    float *out;             /* batch output */
    size_t out_cap;
    float *scratch;         /* one clip's (features, frames) copy for layout ft */
    size_t scratch_cap;
    int n_ok, n_failed;
    double audio_seconds;
} run_state;

/* Grows a float buffer to at least n floats (n >= 1). Returns 0 or -1 if out of memory. */
static int reserve_floats(float **buf, size_t *cap, size_t n)
{
    if (n == 0)
        n = 1;
    if (n <= *cap)
        return 0;
    float *p = realloc(*buf, n * sizeof(float));
    if (p == NULL)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* Prints the failure of input i and counts it. */
static void report_failure(run_state *st, int i, const char *reason)
{
    char msg[AFX_ERROR_MAX + 64];
    snprintf(msg, sizeof msg, "%s", reason && reason[0] ? reason : "unknown error");
    one_line(msg);
    const char *input = st->jobs[i].input;
    if (strstr(msg, input) != NULL)
        fprintf(stderr, "afx: failed: %s\n", msg);
    else
        fprintf(stderr, "afx: failed: %s: %s\n", input, msg);
    st->n_failed++;
}

/*
 * Replaces the plan by one for clips of at least `needed` samples (at least twice the current
 * limit, so that a run recreates its plan only a logarithmic number of times). Returns AFX_OK, or an
 * error with its message in err; the old plan is kept on failure.
 */
static afx_status grow_plan(run_state *st, int64_t needed, char *err, size_t err_size)
{
    if (needed > MAX_PLAN_SAMPLES) {
        snprintf(err, err_size, "clip of %" PRId64 " samples is longer than afx supports (%" PRId64 ")", needed,
                 MAX_PLAN_SAMPLES);
        return AFX_ERR_EXCEEDS_PLAN;
    }
    afx_params q = st->params;
    int64_t doubled = q.max_samples > MAX_PLAN_SAMPLES / 2 ? MAX_PLAN_SAMPLES : 2 * q.max_samples;
    q.max_samples = needed > doubled ? needed : doubled;
    afx_plan *plan = NULL;
    afx_status s = afx_plan_create(&q, &plan, err, err_size);
    if (s != AFX_OK)
        return s;
    afx_plan_free(st->plan);
    st->plan = plan;
    st->params = q;
    return AFX_OK;
}

/* Writes one clip's features to OUTDIR/<name>.npy through a temporary file. Returns 0 or -1. */
static int write_npy_atomic(run_state *st, int i, const float *data, int ndim, const int64_t *shape)
{
    const char *dir = st->cfg->outdir;
    const char *name = st->jobs[i].name;
    size_t len = strlen(dir) + 1 + strlen(name) + sizeof ".npy.tmp";
    char *path = malloc(len);
    char *tmp = malloc(len);
    if (path == NULL || tmp == NULL) {
        free(path);
        free(tmp);
        report_failure(st, i, "out of memory");
        return -1;
    }
    snprintf(path, len, "%s/%s.npy", dir, name);
    snprintf(tmp, len, "%s/%s.npy.tmp", dir, name);

    char err[AFX_ERROR_MAX];
    int status = afx_npy_write(tmp, data, ndim, shape, err, sizeof err);
    if (status == 0 && rename(tmp, path) != 0) {
        snprintf(err, sizeof err, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        remove(tmp);
        status = -1;
    }
    if (status != 0)
        report_failure(st, i, err);
    free(path);
    free(tmp);
    return status;
}

/* Writes the output of clip b of the batch (input i) in its own shape. Returns 0 or -1. */
static int write_clip(run_state *st, int i, int b, int64_t frames_stride)
{
    const afx_params *p = afx_plan_params(st->plan);
    size_t per_clip = afx_plan_output_size(st->plan, 1, frames_stride);
    const float *clip = st->out + (size_t)b * per_clip;
    int64_t nf = afx_plan_n_features(st->plan);
    int64_t frames = st->n_frames[b];

    if (p->pooling != AFX_POOL_NONE) {
        int64_t shape[1] = {(int64_t)per_clip};
        return write_npy_atomic(st, i, clip, 1, shape);
    }
    if (p->layout == AFX_LAYOUT_TF) { /* [frames_stride][nf]: the first `frames` rows are the clip */
        int64_t shape[2] = {frames, nf};
        return write_npy_atomic(st, i, clip, 2, shape);
    }
    /* FT: [nf][frames_stride] -> [nf][frames] */
    size_t n = (size_t)nf * (size_t)frames;
    if (reserve_floats(&st->scratch, &st->scratch_cap, n) != 0) {
        report_failure(st, i, "out of memory");
        return -1;
    }
    for (int64_t f = 0; f < nf; f++)
        memcpy(st->scratch + (size_t)f * (size_t)frames, clip + (size_t)f * (size_t)frames_stride,
               sizeof(float) * (size_t)frames);
    int64_t shape[2] = {nf, frames};
    return write_npy_atomic(st, i, st->scratch, 2, shape);
}

/* Decodes inputs [first, first + count); failed ones are reported and left undecoded. */
static void decode_batch(run_state *st, int first, int count)
{
    for (int b = 0; b < count; b++) {
        char err[AFX_ERROR_MAX];
        afx_status s = afx_audio_load_file(st->jobs[first + b].input, &st->audio, &st->clips[b], err, sizeof err);
        st->decoded[b] = s == AFX_OK;
        if (s != AFX_OK)
            report_failure(st, first + b, err);
    }
}

/* Makes sure the plan takes the batch's longest clip; clips it still cannot take are failed. */
static void fit_plan_to_batch(run_state *st, int first, int count)
{
    int64_t longest = 0;
    for (int b = 0; b < count; b++)
        if (st->decoded[b] && st->clips[b].n_samples > longest)
            longest = st->clips[b].n_samples;
    if (longest <= st->params.max_samples)
        return;
    char err[AFX_ERROR_MAX];
    if (grow_plan(st, longest, err, sizeof err) == AFX_OK)
        return;
    for (int b = 0; b < count; b++) {
        if (st->decoded[b] && st->clips[b].n_samples > st->params.max_samples) {
            char msg[AFX_ERROR_MAX + 64];
            snprintf(msg, sizeof msg, "no plan for a clip of %" PRId64 " samples: %s", st->clips[b].n_samples, err);
            report_failure(st, first + b, msg);
            afx_audio_clip_free(&st->clips[b]);
            st->decoded[b] = 0;
        }
    }
}

/* Reports every decoded clip of the batch as failed with the same reason. */
static void fail_batch(run_state *st, int first, int count, const char *reason)
{
    for (int b = 0; b < count; b++)
        if (st->decoded[b])
            report_failure(st, first + b, reason);
}

/*
 * Runs inputs [first, first + count) through one afx_plan_execute call. Inputs that failed to decode
 * take part as empty clips so that the batch keeps the global clip indices (dither and mask keys).
 */
static void compute_batch(run_state *st, int first, int count)
{
    int any = 0;
    for (int b = 0; b < count; b++) {
        st->ptrs[b] = st->decoded[b] ? st->clips[b].samples : NULL;
        st->lengths[b] = st->decoded[b] ? st->clips[b].n_samples : 0;
        any |= st->decoded[b];
    }
    if (!any)
        return;
    afx_input in = {.format = AFX_SAMPLE_F32, .n_channels = 1, .clips = st->ptrs, .lengths = st->lengths,
                    .n_clips = count, .first_clip_index = (uint64_t)first};
    int64_t max_frames = 0;
    if (afx_plan_output_shape(st->plan, &in, NULL, &max_frames) != AFX_OK) {
        fail_batch(st, first, count, afx_plan_error(st->plan));
        return;
    }
    if (reserve_floats(&st->out, &st->out_cap, afx_plan_output_size(st->plan, count, max_frames)) != 0) {
        fail_batch(st, first, count, "out of memory for the batch output");
        return;
    }
    afx_output out = {.data = st->out, .frames_stride = max_frames, .n_frames = st->n_frames};
    afx_status s = afx_plan_execute(st->plan, &in, &out);
    int refused = 0;
    for (int b = 0; b < count && s == AFX_ERR_INVALID_INPUT; b++)
        refused |= st->decoded[b] && st->n_frames[b] < 0;
    if (s != AFX_OK && !refused) {
        fail_batch(st, first, count, afx_plan_error(st->plan));
        return;
    }
    for (int b = 0; b < count; b++) {
        if (!st->decoded[b])
            continue;
        if (st->n_frames[b] < 0) {
            report_failure(st, first + b, afx_plan_error(st->plan));
        } else if (write_clip(st, first + b, b, max_frames) == 0) {
            st->n_ok++;
            st->audio_seconds += (double)st->clips[b].n_samples / (double)st->params.sample_rate;
        }
    }
}

/* Decodes, computes and writes inputs [first, first + count). */
static void process_batch(run_state *st, int first, int count)
{
    decode_batch(st, first, count);
    fit_plan_to_batch(st, first, count);
    compute_batch(st, first, count);
    for (int b = 0; b < count; b++)
        if (st->decoded[b])
            afx_audio_clip_free(&st->clips[b]);
}

/* Allocates the per-batch arrays. Returns 0 or -1. */
static int alloc_batch_arrays(run_state *st, int max_batch)
{
    size_t n = (size_t)max_batch;
    st->clips = calloc(n, sizeof *st->clips);
    st->decoded = calloc(n, sizeof *st->decoded);
    st->ptrs = calloc(n, sizeof *st->ptrs);
    st->lengths = calloc(n, sizeof *st->lengths);
    st->n_frames = calloc(n, sizeof *st->n_frames);
    return (st->clips && st->decoded && st->ptrs && st->lengths && st->n_frames) ? 0 : -1;
}

/* Frees everything a run owns. */
static void free_run(run_state *st)
{
    afx_plan_free(st->plan);
    free(st->clips);
    free(st->decoded);
    free(st->ptrs);
    free(st->lengths);
    free(st->n_frames);
    free(st->out);
    free(st->scratch);
}

/* Samples the first plan is sized for: INITIAL_PLAN_SECONDS at the target rate, at most the default. */
static int64_t initial_max_samples(const afx_params *p)
{
    int64_t n = (int64_t)INITIAL_PLAN_SECONDS * p->sample_rate;
    if (n < 1)
        n = 1;
    return n < p->max_samples ? n : p->max_samples;
}

/*
 * Long option of the afx_params field a library message starts with ("n_fft=0 must be ..." ->
 * "n-fft"), or NULL when the message does not start with a field that an option sets.
 */
static const char *option_of_message(const char *msg)
{
    size_t len = strspn(msg, "abcdefghijklmnopqrstuvwxyz0123456789_");
    for (size_t i = 0; i < N_OPTIONS && len > 0; i++) {
        const char *field = OPTIONS[i].field;
        if (OPTIONS[i].kind != OPT_SET_INT && OPTIONS[i].kind != OPT_SET_FLOAT && field != NULL &&
            strlen(field) == len && strncmp(field, msg, len) == 0)
            return OPTIONS[i].name;
    }
    return NULL;
}

/* Validates, creates the plan and output folder, then processes all inputs. Returns the exit code. */
static int run_extract(afx_params *p, const cli_config *cfg, job *jobs)
{
    char err[AFX_ERROR_MAX];
    afx_status s = afx_params_validate(p, err, sizeof err);
    if (s != AFX_OK) {
        one_line(err);
        const char *opt = option_of_message(err);
        fprintf(stderr, "afx: invalid parameters: %s%s%s%s\n", err, opt ? " (option --" : "", opt ? opt : "",
                opt ? ")" : "");
        return EXIT_USAGE;
    }
    if (make_output_names(jobs, cfg->n_inputs) != 0)
        return EXIT_USAGE;

    run_state st;
    memset(&st, 0, sizeof st);
    st.cfg = cfg;
    st.jobs = jobs;
    st.params = *p;
    st.params.max_samples = initial_max_samples(p);
    afx_audio_options_init(&st.audio);
    st.audio.target_rate = p->sample_rate;
    st.audio.downmix = 1;

    s = afx_plan_create(&st.params, &st.plan, err, sizeof err);
    if (s != AFX_OK) {
        one_line(err);
        fprintf(stderr, "afx: cannot create the plan: %s\n", err);
        return (s == AFX_ERR_INVALID_PARAM || s == AFX_ERR_BACKEND_UNAVAILABLE) ? EXIT_USAGE : EXIT_SOME_FAILED;
    }
    if (alloc_batch_arrays(&st, p->max_batch) != 0) {
        fprintf(stderr, "afx: out of memory\n");
        free_run(&st);
        return EXIT_SOME_FAILED;
    }
    if (make_dirs(cfg->outdir) != 0) {
        free_run(&st);
        return EXIT_SOME_FAILED;
    }

    double t0 = now_seconds();
    for (int first = 0; first < cfg->n_inputs; first += p->max_batch) {
        int count = cfg->n_inputs - first < p->max_batch ? cfg->n_inputs - first : p->max_batch;
        process_batch(&st, first, count);
    }
    double wall = now_seconds() - t0;
    if (!cfg->quiet)
        fprintf(stderr, "afx: %d ok, %d failed; %.2f s of audio in %.2f s (%s backend)\n", st.n_ok, st.n_failed,
                st.audio_seconds, wall, afx_backend_name(afx_plan_backend(st.plan)));
    int code = st.n_failed ? EXIT_SOME_FAILED : EXIT_ALL_OK;
    free_run(&st);
    return code;
}

/* `afx extract ...` (argv[0] is "extract"). Returns the exit code. */
int afx_cmd_extract(int argc, char **argv)
{
    afx_params p;
    afx_params_init(&p);
    cli_config cfg = {0};
    int r = parse_extract_args(argc, argv, &p, &cfg);
    if (r != 0)
        return r > 0 ? EXIT_ALL_OK : EXIT_USAGE;
    if (cfg.n_inputs == 0) {
        fprintf(stderr, "afx extract: no input files\n");
        afx_extract_print_usage(stderr);
        return EXIT_USAGE;
    }
    if (cfg.outdir == NULL || cfg.outdir[0] == '\0') {
        fprintf(stderr, "afx extract: -o/--output DIR is required\n");
        afx_extract_print_usage(stderr);
        return EXIT_USAGE;
    }
    job *jobs = calloc((size_t)cfg.n_inputs, sizeof *jobs);
    if (jobs == NULL) {
        fprintf(stderr, "afx: out of memory\n");
        return EXIT_SOME_FAILED;
    }
    for (int i = 0; i < cfg.n_inputs; i++)
        jobs[i].input = cfg.inputs[i];
    int code = run_extract(&p, &cfg, jobs);
    for (int i = 0; i < cfg.n_inputs; i++)
        free(jobs[i].name);
    free(jobs);
    return code;
}
