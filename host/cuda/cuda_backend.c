/*
 * cuda_backend.c: the CUDA backend's entry points (afx_backend_ops) behind the same API as the CPU
 * reference (host/cpu/cpu_backend.c), with the same results to float rounding. cuda_state.h lists the files
 * and buffers; cuda_batch.c describes the data flow of one batch.
 *
 * Pipelining (afx_plan_execute_batches): two pinned slots and events; batch i+1 is packed and uploaded while
 * batch i computes and batch i-1 is downloaded and copied out.
 *
 * Streams: all compute runs on the caller's stream when afx_plan_set_stream gave one (else the plan's own);
 * the copy streams are ordered with it through events. Every CUDA, cuFFT and cuBLAS call is checked and
 * turned into an afx_status with a message naming the call; device memory is only ever allocated at plan
 * time, so a batch never runs out of it. After a failure the plan waits for its own queued work only.
 */
#include <string.h>

#include "cuda_state.h"

static afx_status run_batches(afx_plan *plan, const afx_input *inputs, afx_output *outputs, int n_batches, int *n_done,
                              int name_batch) {
    cuda_state *s = plan->backend_state;
    int prev;
    AFX_FORWARD(afx_cu_enter_device(plan, s, &prev));
    afx_status result = AFX_OK, st = AFX_OK;
    int first_bad = -1, pending = -1, pending_slot = 0;
    char first_err[AFX_ERROR_MAX] = "";
    for (int i = 0; i <= n_batches && st == AFX_OK; i++) {
        int slot = 0;
        if (i < n_batches) {
            st = afx_cu_start_batch(plan, s, &inputs[i], INPUT_HOST, outputs[i].n_frames, &slot);
            if (st == AFX_OK) st = afx_cu_enqueue_download(plan, s, slot, &outputs[i]);
            if (st != AFX_OK) break;
        }
        if (pending >= 0) { /* batch i-1 is copied out while batch i computes */
            afx_status clip_st = afx_cu_finish_batch(plan, s, pending_slot, &outputs[pending], outputs[pending].n_frames);
            if (clip_st != AFX_OK && clip_st != AFX_ERR_INVALID_INPUT) {
                st = clip_st;
                break;
            }
            if (clip_st != AFX_OK && result == AFX_OK) {
                result = clip_st;
                first_bad = pending;
                memcpy(first_err, plan->err, sizeof first_err);
            }
            if (n_done) *n_done = pending + 1;
        }
        pending = i;
        pending_slot = slot;
    }
    if (st != AFX_OK) {
        afx_cu_drain(s);
        afx_cu_leave_device(s, prev);
        return st;
    }
    afx_cu_leave_device(s, prev);
    plan->err[0] = '\0';
    if (result != AFX_OK) {
        if (name_batch)
            afx_fail(plan->err, sizeof plan->err, result, "batch %d: %s", first_bad, first_err);
        else
            memcpy(plan->err, first_err, sizeof plan->err);
    }
    return result;
}

static afx_status cuda_execute(afx_plan *plan, const afx_input *in, afx_output *out) {
    return run_batches(plan, in, out, 1, NULL, 0);
}

static afx_status cuda_execute_batches(afx_plan *plan, const afx_input *inputs, afx_output *outputs, int n_batches,
                                       int *n_done) {
    return run_batches(plan, inputs, outputs, n_batches, n_done, 1);
}

/* A batch whose output stays on the device: queued, not waited for. */
static afx_status device_output(afx_plan *plan, const afx_input *in, afx_device_output *out, int64_t max_frames,
                                input_kind kind) {
    cuda_state *s = plan->backend_state;
    int prev;
    AFX_FORWARD(afx_cu_enter_device(plan, s, &prev));
    int slot = 0;
    afx_status st = afx_cu_start_batch(plan, s, in, kind, out->n_frames, &slot);
    if (st == AFX_OK) st = afx_cu_enqueue_download(plan, s, slot, NULL); /* the verdicts only */
    if (st != AFX_OK) {
        afx_cu_drain(s);
        afx_cu_leave_device(s, prev);
        return st;
    }
    afx_cu_leave_device(s, prev);
    s->dev_slot = slot;
    out->data = s->d_out;
    out->dtype = plan->p.output_dtype;
    out->n_clips = in->n_clips;
    out->n_features = plan->pooled_size ? plan->pooled_size : plan->n_features;
    out->frames_stride = plan->pooled_size ? 1 : max_frames;
    out->ready_event = (void *)s->ev_ready;
    return AFX_OK;
}

static afx_status cuda_execute_device(afx_plan *plan, const afx_input *in, afx_device_output *out, int64_t max_frames) {
    return device_output(plan, in, out, max_frames, INPUT_HOST);
}

static afx_status cuda_execute_device_input(afx_plan *plan, const afx_input *in, afx_device_output *out,
                                            int64_t max_frames) {
    return device_output(plan, in, out, max_frames, INPUT_DEVICE);
}

static afx_status cuda_device_output_wait(afx_plan *plan, afx_device_output *out) {
    cuda_state *s = plan->backend_state;
    return afx_cu_device_verdicts(plan, s, out);
}

static afx_status cuda_release_device_output(afx_plan *plan, void *cuda_event) {
    cuda_state *s = plan->backend_state;
    if (!cuda_event) return AFX_OK; /* nothing pending: the previous ordering stands */
    int prev;
    AFX_FORWARD(afx_cu_enter_device(plan, s, &prev));
    /* The download stream waits for the caller's reads, then marks the output free: the next output kernel
     * waits for that mark (ev_out_free), and nothing earlier in the next batch is held back. */
    afx_status st = afx_cu_cuda_fail(plan, cudaStreamWaitEvent(s->d2h, (cudaEvent_t)cuda_event, 0),
                                     "cudaStreamWaitEvent(caller's release event)");
    if (st == AFX_OK)
        st = afx_cu_cuda_fail(plan, cudaEventRecord(s->ev_out_free, s->d2h), "cudaEventRecord(output released)");
    afx_cu_leave_device(s, prev);
    return st;
}

static afx_status cuda_set_stream(afx_plan *plan, void *stream) {
    cuda_state *s = plan->backend_state;
    cudaStream_t next = stream ? (cudaStream_t)stream : s->own_stream;
    if (next == s->stream) return AFX_OK;
    int prev;
    AFX_FORWARD(afx_cu_enter_device(plan, s, &prev));
    /* Work already queued on the old stream comes before anything queued on the new one. */
    afx_status st = afx_cu_cuda_fail(plan, cudaEventRecord(s->ev_switch, s->stream), "cudaEventRecord(stream switch)");
    if (st == AFX_OK)
        st = afx_cu_cuda_fail(plan, cudaStreamWaitEvent(next, s->ev_switch, 0), "cudaStreamWaitEvent(stream switch)");
    if (st == AFX_OK) {
        cudaStream_t old = s->stream;
        s->stream = next;
        st = afx_cu_bind_stream(plan, s);
        if (st != AFX_OK) {
            s->stream = old;
            (void)afx_cu_bind_stream(plan, s);
        }
    }
    afx_cu_leave_device(s, prev);
    return st;
}

static afx_status cuda_workspace_size(const afx_plan *plan, size_t *device_bytes, size_t *pinned_host_bytes) {
    const cuda_state *s = plan->backend_state;
    if (device_bytes) *device_bytes = s->device_bytes;
    if (pinned_host_bytes) *pinned_host_bytes = s->pinned_bytes;
    return AFX_OK;
}

int afx_cu_probe_devices(void) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver or no device: clear the error and report none */
        return 0;
    }
    return count > 0 ? count : 0;
}

const afx_backend_ops afx_cu_backend_ops = {
    .name = "cuda",
    .init = afx_cu_init,
    .execute = cuda_execute,
    .destroy = afx_cu_destroy,
    .execute_batches = cuda_execute_batches,
    .execute_device = cuda_execute_device,
    .execute_device_input = cuda_execute_device_input,
    .set_stream = cuda_set_stream,
    .workspace_size = cuda_workspace_size,
    .device_output_wait = cuda_device_output_wait,
    .release_device_output = cuda_release_device_output,
};
