#!/usr/bin/env bash
# fuzz-cc.sh: prints the clang that builds the fuzz targets (make fuzz): clang-14,
# Debian 12's, whose libclang-rt-14-dev has libFuzzer, else the default clang.
for c in clang-14 clang; do
  if command -v "$c" >/dev/null 2>&1; then echo "$c"; exit 0; fi
done
echo "fuzz-cc.sh: no clang found (scripts/deps.sh --fuzz installs clang-14)" >&2
echo false
exit 1
