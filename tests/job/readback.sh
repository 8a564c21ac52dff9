#!/usr/bin/env bash
# Reads every output format of `afx extract` back with its real reader: numpy (npy, table), webdataset (tar
# shards), kaldiio (ark + scp). Makes a small venv with those three from PyPI the first time (about 10 s).
#   readback.sh AFX_BINARY VENV_DIR EXAMPLES_DIR
set -euo pipefail
afx=$1 venv=$2 examples=$3
here=$(cd "$(dirname "$0")" && pwd)
if ! "$venv/bin/python" -c 'import numpy, webdataset, kaldiio' 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check numpy webdataset kaldiio
fi
exec "$venv/bin/python" "$here/readback.py" "$afx" "$examples"
