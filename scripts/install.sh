#!/usr/bin/env bash
# Create .venv (if missing), install the pinned requirements, then this project itself (editable: its
# packages import from any folder, and edits here need no reinstall), then NVIDIA DALI.
# DALI is optional: if it cannot be installed the library still works with TF_GENERATOR.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps -e .   # dependencies: the pinned requirements.txt above
if ! .venv/bin/python -m pip install -q --no-build-isolation -r requirements-dali.txt; then
    echo "warning: NVIDIA DALI could not be installed; DATA_GENERATOR_TYPE=DALI_GENERATOR will be unavailable" >&2
fi
echo "installed into .venv"
