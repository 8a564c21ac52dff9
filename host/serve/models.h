/*
 * models.h: the named feature configurations `afx serve` offers ("models" in the Open Inference
 * Protocol): one built-in model per valid preset x feature, named <preset>_<feature> (whisper_logmel,
 * librosa_mfcc, kaldi_logmel, ...) plus the aliases below, and the models of the JSON file given
 * with --models:
 *
 *   {"models": [
 *      {"name": "asr_fbank", "preset": "kaldi", "feature": "logmel",
 *       "parameters": {"dither": 0, "n_mels": 80}, "description": "80-band Kaldi fbank, no dither"}
 *   ]}
 *
 * "preset" and "feature" are optional (without a preset the model starts from afx_params_init);
 * "parameters" are afx_params fields by name (numbers, strings or booleans). A file model may replace
 * a built-in one of the same name. Pure (jansson, no I/O but reading the file); not thread-safe while
 * being built, read-only (and so thread-safe) afterwards.
 */
#ifndef AFX_SERVE_MODELS_H
#define AFX_SERVE_MODELS_H

#include <jansson.h>

#include "afx.h"
#include "request.h"

/** Longest model name. Names are [A-Za-z0-9_.-]+ so that they are URL path segments as they are. */
#define SERVE_MODEL_NAME_MAX 64

typedef struct serve_model {
    char name[SERVE_MODEL_NAME_MAX + 1];
    char description[160];
    afx_params params;    /**< validated with the server's limits */
    int builtin;          /**< 1: from the presets */
} serve_model;

typedef struct serve_models {
    serve_model *items;
    int n, cap;
} serve_models;

/** Built-in aliases: kaldi_fbank = kaldi_logmel (compute-fbank-feats), kaldi_mfcc is already its name. */

/** Adds the built-in models with the server's limits. 0, or 500 with a message. */
int serve_models_add_builtin(serve_models *models, const serve_limits *limits, char *err, size_t err_size);
/** Adds the models of a JSON file (format above). 0, or 400 with a message naming the file and model. */
int serve_models_load_file(serve_models *models, const char *path, const serve_limits *limits, char *err,
                           size_t err_size);
/** Same from JSON text (`what` names it in messages). */
int serve_models_load_json(serve_models *models, const char *text, size_t len, const char *what,
                           const serve_limits *limits, char *err, size_t err_size);
/** The model called `name`, or NULL. */
const serve_model *serve_models_find(const serve_models *models, const char *name);
void serve_models_free(serve_models *models);

/** 1 when `name` is a valid model name. */
int serve_model_name_ok(const char *name);

/** {"name": ..., "value": ...} text of every afx_params field, as a JSON object (new reference). */
json_t *serve_params_json(const afx_params *params);

/**
 * Open Inference Protocol model metadata: {"name", "versions": ["1"], "platform": "afx", "inputs": [...],
 * "outputs": [...]} with the tensors' datatypes and shapes (-1 = variable). New reference or NULL.
 */
json_t *serve_model_metadata(const serve_model *model, int max_batch);
/**
 * Triton-style model configuration: name, max_batch_size, input/output tensors (data_type, dims),
 * dynamic_batching {max_queue_delay_microseconds}, and "parameters" = every afx_params field with its value.
 */
json_t *serve_model_config(const serve_model *model, int max_batch, long max_queue_delay_us);

/** Output datatype name of the protocol for an afx dtype: FP32, FP16 or BF16. */
const char *serve_dtype_name(afx_dtype dtype);

#endif /* AFX_SERVE_MODELS_H */
