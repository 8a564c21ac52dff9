#!/usr/bin/env bash
# Installs the built afx into a temporary prefix and builds examples/c_example.c against it the three
# ways a user would: pkg-config (shared), find_package(afx) with afx::afx and with afx::afx_static.
# Each program must run on a real clip and print its shape.
set -euo pipefail
build_dir=$1 src_dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build_dir" --prefix "$tmp/prefix" >/dev/null
clip="$src_dir/examples/audio/alsa_Front_Center.wav"
libdir=$(find "$tmp/prefix" -name 'libafx.so' -printf '%h\n' | head -n1)

PKG_CONFIG_PATH="$libdir/pkgconfig" cc -std=c11 -Wall -Werror "$src_dir/examples/c_example.c" \
  $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs afx) -o "$tmp/c_example_pc"
LD_LIBRARY_PATH="$libdir" "$tmp/c_example_pc" "$clip" | tee "$tmp/pc.txt"
grep -q "80 mels x 143 frames" "$tmp/pc.txt"

cmake -S "$src_dir/examples/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/consumer/c_example_shared" "$clip" | grep "80 mels x 143 frames"
"$tmp/consumer/c_example_static" "$clip" | grep "80 mels x 143 frames"
# The C example shown in README.md, compiled exactly as the README says.
awk '/^```c$/{on=1;next} /^```$/{if(on){exit}} on' "$src_dir/README.md" > "$tmp/readme_example.c"
test -s "$tmp/readme_example.c"
cc "$tmp/readme_example.c" $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs afx) -o "$tmp/readme_example"
LD_LIBRARY_PATH="$libdir" "$tmp/readme_example" "$clip" | grep "80 mels x 143 frames"
echo "install consumer: pkg-config, afx::afx, afx::afx_static and the README example all build and run"
