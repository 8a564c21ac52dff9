/*
 * options.c: the option tables of the afx tool (options.h): the afx_params options, getopt_long parsing
 * of a command's table together with them, --help lines and value parsers.
 */
#define _GNU_SOURCE

#include "options.h"

#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------- */
/* The afx_params table                                                                           */
/* ---------------------------------------------------------------------------------------------- */

/* Enum fields are written through an int lvalue; make sure they have int's size. */
_Static_assert(sizeof(afx_backend) == sizeof(int) && sizeof(afx_feature) == sizeof(int) &&
                   sizeof(afx_window) == sizeof(int) && sizeof(afx_pad_mode) == sizeof(int) &&
                   sizeof(afx_mel_scale) == sizeof(int) && sizeof(afx_mel_norm) == sizeof(int) &&
                   sizeof(afx_log_type) == sizeof(int) && sizeof(afx_normalize) == sizeof(int) &&
                   sizeof(afx_mask_value) == sizeof(int) && sizeof(afx_pooling) == sizeof(int) &&
                   sizeof(afx_layout) == sizeof(int),
               "afx enums must be int-sized");

#define FIELD(f) offsetof(afx_params, f)
#define HEADING(t) {.kind = OPT_HEADING, .name = (t)}
#define INT_OPT(n, f, mv, h) {.kind = OPT_INT, .name = (n), .field = #f, .offset = FIELD(f), .metavar = (mv), .help = (h)}
#define FLOAT_OPT(n, f, mv, h) {.kind = OPT_FLOAT, .name = (n), .field = #f, .offset = FIELD(f), .metavar = (mv), .help = (h)}
#define ENUM_OPT(n, f, k, lim, h)                                                                        \
    {.kind = OPT_ENUM, .name = (n), .field = #f, .offset = FIELD(f), .enum_kind = (k), .enum_limit = (lim), \
     .help = (h)}
#define SET_INT(n, f, v, h) {.kind = OPT_SET_INT, .name = (n), .offset = FIELD(f), .set_value = (v), .help = (h)}
#define SET_FLOAT(n, f, v, h) {.kind = OPT_SET_FLOAT, .name = (n), .offset = FIELD(f), .set_value = (v), .help = (h)}

static const cli_option PARAM_OPTIONS[] = {
    HEADING("Preset (applied first, for the chosen --feature; every other option overrides it)"),
    {.kind = OPT_PRESET, .name = "preset", .enum_kind = AFX_ENUM_PRESET,
     .help = "a peer library's defaults: see the README's preset table"},

    HEADING("Computation"),
    ENUM_OPT("backend", backend, AFX_ENUM_BACKEND, 0, "where to compute"),
    INT_OPT("cuda-device", cuda_device, "N", "CUDA device ordinal for --backend cuda|auto"),
    INT_OPT("batch-size", max_batch, "N", "clips per execute call"),

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
    SET_INT("norm-unbiased", norm_unbiased, 1, "variance over n - 1 values (torch.std's default)"),
    SET_INT("no-norm-unbiased", norm_unbiased, 0, "variance over n values (numpy, librosa, Kaldi)"),
    FLOAT_OPT("norm-eps", norm_eps, "X", "(x - mean) / sqrt(var + eps)"),
    INT_OPT("time-masks", n_time_masks, "N", "SpecAugment time masks per clip"),
    INT_OPT("time-mask-param", time_mask_param, "T", "widest time mask in frames"),
    INT_OPT("freq-masks", n_freq_masks, "N", "SpecAugment frequency masks per clip"),
    INT_OPT("freq-mask-param", freq_mask_param, "F", "widest frequency mask in bins"),
    ENUM_OPT("mask-value", mask_value, AFX_ENUM_MASK_VALUE, 0, "what masked elements become"),
    ENUM_OPT("pool", pooling, AFX_ENUM_POOLING, 0, "pool over time into one vector per clip"),
    ENUM_OPT("layout", layout, AFX_ENUM_LAYOUT, 0, "ft: (features, frames), tf: (frames, features)"),
};
#define N_PARAM_OPTIONS (sizeof PARAM_OPTIONS / sizeof PARAM_OPTIONS[0])

const cli_option *afx_cli_param_options(size_t *count)
{
    *count = N_PARAM_OPTIONS;
    return PARAM_OPTIONS;
}

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

void afx_cli_one_line(char *msg)
{
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
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
    case OPT_COMMAND: snprintf(buf, size, "%s", o->default_text ? o->default_text : ""); break;
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

void afx_cli_print_options(FILE *f, const cli_option *opts, size_t n)
{
    afx_params d;
    afx_params_init(&d);
    for (size_t i = 0; i < n; i++) {
        if (opts[i].kind == OPT_HEADING)
            fprintf(f, "\n%s:\n", opts[i].name);
        else
            print_option(f, &opts[i], &d);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Value parsing                                                                                  */
/* ---------------------------------------------------------------------------------------------- */

int afx_cli_parse_i64(const char *opt, const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = (*s == '\0' || (*s != '-' && *s != '+' && (*s < '0' || *s > '9'))) ? 0 : strtoll(s, &end, 10);
    if (end == NULL || end == s || *end != '\0') {
        fprintf(stderr, "afx: --%s: '%s' is not an integer\n", opt, s);
        return -1;
    }
    if (errno == ERANGE) {
        fprintf(stderr, "afx: --%s: '%s' is out of range\n", opt, s);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

int afx_cli_parse_int(const char *opt, const char *s, int *out)
{
    int64_t v = 0;
    if (afx_cli_parse_i64(opt, s, &v) != 0)
        return -1;
    if (v < INT_MIN || v > INT_MAX) {
        fprintf(stderr, "afx: --%s: '%s' is out of range\n", opt, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int afx_cli_parse_u64(const char *opt, const char *s, uint64_t *out)
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

/* Parses a whole finite number representable as a double. Returns 0 or prints why and returns -1. */
static int parse_double(const char *opt, const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    int plausible = *s != '\0' && (*s == '-' || *s == '+' || *s == '.' || (*s >= '0' && *s <= '9'));
    double v = plausible ? strtod(s, &end) : 0.0;
    if (end == NULL || end == s || *end != '\0') {
        fprintf(stderr, "afx: --%s: '%s' is not a number\n", opt, s);
        return -1;
    }
    if (errno == ERANGE) { /* overflow, or underflow to 0 or a denormal */
        fprintf(stderr, "afx: --%s: '%s' is out of range\n", opt, s);
        return -1;
    }
    if (!isfinite(v)) {
        fprintf(stderr, "afx: --%s: '%s' is not a finite number\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

int afx_cli_parse_seconds(const char *opt, const char *s, double *out)
{
    double v = 0.0;
    if (parse_double(opt, s, &v) != 0)
        return -1;
    if (v < 0.0) {
        fprintf(stderr, "afx: --%s: '%s' must be >= 0\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Parses a whole finite number representable as a float. Returns 0 or prints why and returns -1. */
static int parse_float(const char *opt, const char *s, float *out)
{
    double v = 0.0;
    if (parse_double(opt, s, &v) != 0)
        return -1;
    if (fabs(v) > (double)FLT_MAX || (v != 0.0 && fabs(v) < (double)FLT_MIN)) {
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

/* Applies one parsed afx_params option. Returns 0, or -1 after printing why the value is refused. */
static int apply_param_option(const cli_option *o, const char *arg, afx_params *p)
{
    switch (o->kind) {
    case OPT_INT: return afx_cli_parse_int(o->name, arg, int_field(p, o->offset));
    case OPT_FLOAT: return parse_float(o->name, arg, float_field(p, o->offset));
    case OPT_ENUM: return parse_enum(o, arg, int_field(p, o->offset));
    case OPT_SET_INT: *int_field(p, o->offset) = (int)o->set_value; return 0;
    case OPT_SET_FLOAT: *float_field(p, o->offset) = (float)o->set_value; return 0;
    case OPT_SEED: {
        uint64_t seed = 0;
        if (afx_cli_parse_u64(o->name, arg, &seed) != 0)
            return -1;
        p->dither_seed = seed;
        p->mask_seed = seed;
        return 0;
    }
    default: return 0;
    }
}

/* Does option `o` take a value? */
static int takes_value(const cli_option *o)
{
    return o->kind == OPT_INT || o->kind == OPT_FLOAT || o->kind == OPT_ENUM || o->kind == OPT_SEED ||
           o->kind == OPT_PRESET || (o->kind == OPT_COMMAND && o->metavar != NULL);
}

/* getopt_long value of a long option: 256 + its index in the merged list (never a short letter). */
#define LONG_ID_BASE 256
/* Most options of a command's table plus the afx_params table. */
#define MAX_OPTIONS 256

/* Prints the message for getopt's '?' or ':' result. */
static void report_getopt_error(int c, char **argv, const cli_option *const *all)
{
    const char *given = argv[optind - 1];
    if (optopt >= LONG_ID_BASE && c == ':')
        fprintf(stderr, "afx: option '--%s' needs a value\n", all[optopt - LONG_ID_BASE]->name);
    else if (optopt >= LONG_ID_BASE)
        fprintf(stderr, "afx: option '--%s' takes no value ('%s')\n", all[optopt - LONG_ID_BASE]->name, given);
    else if (optopt != 0 && c == ':')
        fprintf(stderr, "afx: option '-%c' needs a value\n", optopt);
    else if (optopt != 0)
        fprintf(stderr, "afx: unknown option '-%c'\n", optopt);
    else
        fprintf(stderr, "afx: unknown or ambiguous option '%s'\n", given);
}

int afx_cli_parse(int argc, char **argv, const cli_option *cmd, size_t n_cmd, afx_params *p, cli_command_fn fn,
                  void *ctx, int *first_operand)
{
    const cli_option *all[MAX_OPTIONS];
    size_t n_all = 0;
    for (size_t i = 0; i < n_cmd && n_all < MAX_OPTIONS; i++)
        if (cmd[i].kind != OPT_HEADING)
            all[n_all++] = &cmd[i];
    for (size_t i = 0; i < N_PARAM_OPTIONS && n_all < MAX_OPTIONS; i++)
        if (PARAM_OPTIONS[i].kind != OPT_HEADING)
            all[n_all++] = &PARAM_OPTIONS[i];

    struct option longopts[MAX_OPTIONS + 1];
    char shortopts[64] = ":";
    int short_index[128];
    for (int i = 0; i < 128; i++)
        short_index[i] = -1;
    for (size_t i = 0; i < n_all; i++) {
        const cli_option *o = all[i];
        longopts[i] = (struct option){o->name, takes_value(o) ? required_argument : no_argument, NULL,
                                      LONG_ID_BASE + (int)i};
        if (o->short_name > 0 && o->short_name < 128 && strlen(shortopts) + 3 < sizeof shortopts) {
            size_t len = strlen(shortopts);
            shortopts[len] = (char)o->short_name;
            shortopts[len + 1] = takes_value(o) ? ':' : '\0';
            shortopts[len + 2] = '\0';
            short_index[o->short_name] = (int)i;
        }
    }
    longopts[n_all] = (struct option){NULL, 0, NULL, 0};

    /* Pass 1: only --preset and --feature (a preset depends on the feature); pass 2: every option in
     * order, over the preset's values. optind = 0 makes glibc's getopt start afresh. */
    int preset = -1, feature = p->feature;
    for (int pass = 1; pass <= 2; pass++) {
        opterr = 0;
        optind = 0;
        int c;
        while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
            if (c == '?' || c == ':') {
                report_getopt_error(c, argv, all);
                return -1;
            }
            int idx = c >= LONG_ID_BASE ? c - LONG_ID_BASE : (c > 0 && c < 128 ? short_index[c] : -1);
            if (idx < 0 || idx >= (int)n_all)
                return -1;
            const cli_option *o = all[idx];
            if (o->kind == OPT_HELP)
                return 1;
            if (pass == 1) {
                if (o->kind == OPT_PRESET && parse_enum(o, optarg, &preset) != 0)
                    return -1;
                if (o->kind == OPT_ENUM && o->offset == FIELD(feature) && parse_enum(o, optarg, &feature) != 0)
                    return -1;
                continue;
            }
            if (o->kind == OPT_COMMAND) {
                if (fn(ctx, o, takes_value(o) ? optarg : NULL) != 0)
                    return -1;
            } else if (o->kind != OPT_PRESET && apply_param_option(o, optarg, p) != 0) {
                return -1;
            }
        }
        if (pass == 1 && preset >= 0) {
            char err[AFX_ERROR_MAX];
            if (afx_params_preset(p, (afx_preset)preset, (afx_feature)feature, err, sizeof err) != AFX_OK) {
                fprintf(stderr, "afx: --preset %s: %s\n", afx_enum_name(AFX_ENUM_PRESET, preset), err);
                return -1;
            }
        }
    }
    *first_operand = optind;
    return 0;
}

const char *afx_cli_option_of_message(const char *msg)
{
    size_t len = strspn(msg, "abcdefghijklmnopqrstuvwxyz0123456789_");
    for (size_t i = 0; i < N_PARAM_OPTIONS && len > 0; i++) {
        const char *field = PARAM_OPTIONS[i].field;
        if (PARAM_OPTIONS[i].kind != OPT_SET_INT && PARAM_OPTIONS[i].kind != OPT_SET_FLOAT && field != NULL &&
            strlen(field) == len && strncmp(field, msg, len) == 0)
            return PARAM_OPTIONS[i].name;
    }
    return NULL;
}
