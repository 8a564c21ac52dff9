__global__ void afx_hd_check_kernel(void) {}
