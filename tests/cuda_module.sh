#!/usr/bin/env bash
# The CUDA backend is a module loaded on first use (host/cuda/cuda_loader.c):
#  1. `afx --version` and `afx extract --backend cpu` map no CUDA library (LD_DEBUG=libs lists every object
#     the dynamic linker initialises); `--backend auto` does load libafx_cuda.so and the CUDA runtime (the
#     positive control that shows the check can see them);
#  2. a missing module: --backend cuda fails with a message naming the folders searched, auto runs on the CPU;
#  3. AFX_CUDA_MODULE pointing at a missing file, at a library that is not a module, and at a module of
#     another afx version: each refused with a message naming the file and the reason.
# Usage: cuda_module.sh AFX_CLI EXAMPLE_WAV
set -euo pipefail
afx=$1 wav=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "cuda_module: FAIL: $*" >&2; exit 1; }
cuda_libs='lib(cudart|cufft|cublas|cublasLt|afx_cuda)\.so'

LD_DEBUG=libs "$afx" --version >/dev/null 2>"$tmp/version.log"
grep -q "calling init" "$tmp/version.log" || fail "LD_DEBUG gave no trace: the check would see nothing"
if grep -E "calling init: .*$cuda_libs" "$tmp/version.log"; then fail "afx --version loads a CUDA library"; fi

LD_DEBUG=libs "$afx" extract --backend cpu "$wav" -o "$tmp/cpu" >/dev/null 2>"$tmp/cpu.log"
ls "$tmp/cpu"/*.npy >/dev/null || fail "afx extract --backend cpu wrote nothing"
if grep -E "calling init: .*$cuda_libs" "$tmp/cpu.log"; then fail "afx extract --backend cpu loads a CUDA library"; fi

LD_DEBUG=libs "$afx" extract --backend auto "$wav" -o "$tmp/auto" >/dev/null 2>"$tmp/auto.log"
grep -qE "calling init: .*libafx_cuda\.so" "$tmp/auto.log" || fail "--backend auto did not load libafx_cuda.so"
grep -qE "calling init: .*libcudart\.so" "$tmp/auto.log" || fail "--backend auto did not load the CUDA runtime"

# 2. The program alone in a folder, nothing on the library path: no module anywhere.
mkdir "$tmp/alone"
cp "$afx" "$tmp/alone/afx"
if "$tmp/alone/afx" extract --backend cuda "$wav" -o "$tmp/o2" 2>"$tmp/missing.log"; then fail "backend cuda without the module succeeded"; fi
grep -q "libafx_cuda.so was not found" "$tmp/missing.log" || fail "no 'not found' message: $(cat "$tmp/missing.log")"
grep -q "$tmp/alone" "$tmp/missing.log" || fail "the message does not name the folders searched: $(cat "$tmp/missing.log")"
"$tmp/alone/afx" extract --backend auto "$wav" -o "$tmp/o3" 2>"$tmp/auto2.log" || fail "auto without the module failed"
grep -qE "[( ]cpu backend[,)]" "$tmp/auto2.log" || fail "auto without the module did not run on the CPU: $(cat "$tmp/auto2.log")"

# 3. AFX_CUDA_MODULE overrides the search, and bad modules are named.
if AFX_CUDA_MODULE=$tmp/nope.so "$afx" extract --backend cuda "$wav" -o "$tmp/o4" 2>"$tmp/env.log"; then fail "a missing AFX_CUDA_MODULE was accepted"; fi
grep -q "AFX_CUDA_MODULE=$tmp/nope.so does not exist" "$tmp/env.log" || fail "$(cat "$tmp/env.log")"
echo 'int afx_something_else(void) { return 1; }' > "$tmp/other.c"
cc -shared -fPIC -o "$tmp/libother.so" "$tmp/other.c"
if AFX_CUDA_MODULE=$tmp/libother.so "$afx" extract --backend cuda "$wav" -o "$tmp/o5" 2>"$tmp/notmod.log"; then
  fail "a library without the entry point was accepted as the module"
fi
grep -q "not an afx CUDA module" "$tmp/notmod.log" || fail "$(cat "$tmp/notmod.log")"
cat > "$tmp/old.c" <<'C'
#include <stdint.h>
#include <stddef.h>
typedef struct { unsigned version_number; uint64_t abi; const void *ops; int (*probe)(void); } mod;
static int none(void) { return 0; }
int afx_cuda_module_v1(const void *host, mod *out) {
    (void)host;
    out->version_number = 90909; /* 9.9.9 */
    out->abi = 0x1234;
    out->ops = &none;
    out->probe = none;
    return -1;
}
C
cc -shared -fPIC -o "$tmp/libold.so" "$tmp/old.c"
if AFX_CUDA_MODULE=$tmp/libold.so "$afx" extract --backend cuda "$wav" -o "$tmp/o6" 2>"$tmp/old.log"; then fail "a module of another version was accepted"; fi
grep -q "was built for afx 9.9.9" "$tmp/old.log" || fail "$(cat "$tmp/old.log")"
grep -q "install the module and libafx from the same build" "$tmp/old.log" || fail "$(cat "$tmp/old.log")"
AFX_CUDA_MODULE=$tmp/libold.so "$afx" extract --backend auto "$wav" -o "$tmp/o7" 2>"$tmp/old_auto.log" || fail "auto with a bad module failed"

echo "cuda_module: afx --version and --backend cpu load no CUDA library; auto loads the module; missing and mismatched modules are refused with their reason"
