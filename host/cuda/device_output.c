/*
 * device_output.c: the public entry points of the device-output release rule and of the device-side
 * refusals (afx_plan_device_output_wait, afx_plan_release_device_output). Compiled in every build: on a
 * plan that does not run on the CUDA backend they answer AFX_ERR_BACKEND_UNAVAILABLE, as the other CUDA
 * extras of plan.c do.
 */
#include "internal.h"

static afx_status not_cuda(afx_plan *plan, const char *what) {
    return AFX_PLAN_FAIL(plan, AFX_ERR_BACKEND_UNAVAILABLE, "%s needs a plan on the CUDA backend; this plan runs on %s",
                         what, plan->ops ? plan->ops->name : "no backend");
}

afx_status afx_plan_device_output_wait(afx_plan *plan, afx_device_output *out) {
    if (!plan) return AFX_ERR_NULL_ARGUMENT;
    plan->err[0] = '\0';
    if (!out || !out->n_frames)
        return AFX_PLAN_FAIL(plan, AFX_ERR_NULL_ARGUMENT, "device output or its n_frames is NULL");
    if (!plan->ops || !plan->ops->device_output_wait) return not_cuda(plan, "afx_plan_device_output_wait");
    return plan->ops->device_output_wait(plan, out);
}

afx_status afx_plan_release_device_output(afx_plan *plan, void *cuda_event) {
    if (!plan) return AFX_ERR_NULL_ARGUMENT;
    plan->err[0] = '\0';
    if (!plan->ops || !plan->ops->release_device_output) return not_cuda(plan, "afx_plan_release_device_output");
    return plan->ops->release_device_output(plan, cuda_event);
}
