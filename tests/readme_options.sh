#!/usr/bin/env bash
# Every long option that `afx extract --help` prints must be documented in README.md.
set -euo pipefail
afx=$1 readme=$2
missing=0
for opt in $("$afx" extract --help | grep -oE -- '--[a-z0-9][a-z0-9-]*' | sort -u); do
  if ! grep -qF -- "$opt" "$readme"; then
    echo "README.md does not document $opt" >&2
    missing=1
  fi
done
[ "$missing" -eq 0 ] && echo "README documents every option of afx extract --help"
exit "$missing"
