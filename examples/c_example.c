/* c_example.c: log-mel features of one audio file with the installed afx library.
 *   cc c_example.c $(pkg-config --cflags --libs afx) -o c_example && ./c_example speech.wav */
#include <stdio.h>
#include <stdlib.h>

#include <afx.h>
#include <afx_audio.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s AUDIO_FILE\n", argv[0]);
        return 2;
    }
    char err[AFX_ERROR_MAX];
    afx_audio_options opts;
    afx_audio_options_init(&opts); /* mono, 16 kHz (soxr HQ) */
    afx_audio_clip clip;
    if (afx_audio_load_file(argv[1], &opts, &clip, err, sizeof err) != AFX_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }

    afx_params p;
    afx_params_init(&p); /* 16 kHz, n_fft 512, win 400, hop 160, 80 mels, log-mel */
    p.max_batch = 1;
    p.max_samples = clip.n_samples > 0 ? clip.n_samples : 1;
    afx_plan *plan = NULL;
    if (afx_plan_create(&p, &plan, err, sizeof err) != AFX_OK) {
        fprintf(stderr, "%s\n", err);
        afx_audio_clip_free(&clip);
        return 1;
    }

    const void *clips[1] = {clip.samples};
    int64_t lengths[1] = {clip.n_samples}, n_frames[1] = {0}, max_frames = 0;
    afx_input in = {.format = AFX_SAMPLE_F32, .n_channels = 1, .clips = clips, .lengths = lengths, .n_clips = 1};
    afx_plan_output_shape(plan, &in, NULL, &max_frames);
    float *features = malloc(sizeof(float) * (afx_plan_output_size(plan, 1, max_frames) + 1));
    afx_output out = {.data = features, .frames_stride = max_frames, .n_frames = n_frames};
    int rc = 0;
    if (!features || afx_plan_execute(plan, &in, &out) != AFX_OK) {
        fprintf(stderr, "%s\n", features ? afx_plan_error(plan) : "out of memory");
        rc = 1;
    } else {
        printf("afx %s: %s -> %d mels x %lld frames, first value %.4f\n", afx_version_string(), argv[1],
               afx_plan_n_features(plan), (long long)n_frames[0], n_frames[0] > 0 ? features[0] : 0.0f);
    }
    free(features);
    afx_plan_free(plan);
    afx_audio_clip_free(&clip);
    return rc;
}
