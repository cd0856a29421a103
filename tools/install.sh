#!/usr/bin/env bash
# Install mtcp and its OpenMMLab stack into the current Python environment
# (the system Python or an active virtualenv). Safe to run again: every step
# checks first and skips what is already in place.
#
# Environment:
#   PYTHON       interpreter to install into (default: python, else python3)
#   TORCH_REQUIREMENT  what to install when torch is missing (default
#                torch==2.13.0, which has wheels for Python 3.10 and 3.11).
#                CUDA users: install torch for your CUDA first (pytorch.org),
#                then run this script; it keeps the torch it finds.
#   PIP_FIND_LINKS  folders of prebuilt wheels (e.g. an mmcv 2.1.0 wheel built
#                for your torch) are honoured by pip.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python || command -v python3)}
TORCH_REQUIREMENT=${TORCH_REQUIREMENT:-torch==2.13.0}
MMCV_VERSION=2.1.0
PIP=("$PYTHON" -m pip install --disable-pip-version-check)

say() { printf '[install] %s\n' "$*"; }
die() { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }

say "Python: $PYTHON"

# The whole stack in one interpreter, so a second run of this script takes
# seconds.
# It runs outside the repository: there, `import mtcp` would find ./mtcp even
# when the installed mtcp is another checkout, which tools/*.py would import.
REPO_ROOT=$(pwd -P)
stack_ok() {
    (cd / && MTCP_REPO="$REPO_ROOT" "$PYTHON" - <<PY >/dev/null 2>&1
import os
from importlib.metadata import version
import mmcv, mmcv.ops, torch
# mmengine's mmseg:: config inheritance and mim need pkg_resources
import pkg_resources
assert mmcv.__version__ == '$MMCV_VERSION'
assert (version('mmengine'), version('mmsegmentation'), version('mmdet')) == \
    ('0.10.7', '1.2.2', '3.3.0')
for mod in ('scipy', 'cv2', 'matplotlib', 'ftfy', 'regex', 'pytest', 'tensorboard'):
    __import__(mod)
import mtcp
assert os.path.dirname(os.path.dirname(os.path.abspath(mtcp.__file__))) == os.environ["MTCP_REPO"]
PY
    )
}
if stack_ok
then
    say "already installed: nothing to do"
    exit 0
fi

"$PYTHON" - <<'PY' || die "unsupported Python: mtcp needs Python 3.10 or 3.11 (torch 2.13 has wheels from 3.10, mmcv 2.1.0 builds up to 3.11); create a virtualenv with one of them"
import sys
sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 11) else 1)
PY

# 1. torch
if "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
    say "torch $("$PYTHON" -c 'import torch; print(torch.__version__)') found; keeping it"
elif "$PYTHON" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is None)' 2>/dev/null; then
    "$PYTHON" -c 'import torch' || true
    die "torch is installed but does not import (see the error above); repair or remove it, then run this script again"
else
    say "torch not found: installing $TORCH_REQUIREMENT (CUDA users: install your CUDA build of torch first)"
    "${PIP[@]}" "$TORCH_REQUIREMENT"
fi
"$PYTHON" -c 'import torch; torch.zeros(2).sum()' \
    || die "torch does not work (see the error above)"

# 2. mmcv 2.1.0 with its compiled ops
mmcv_ok() {
    "$PYTHON" - <<PY >/dev/null 2>&1
import mmcv, mmcv.ops
assert mmcv.__version__ == '$MMCV_VERSION', mmcv.__version__
from mmcv.ops import MultiScaleDeformableAttention
PY
}
if mmcv_ok; then
    say "mmcv $MMCV_VERSION with ops found"
else
    say "looking for a prebuilt mmcv $MMCV_VERSION wheel (PIP_FIND_LINKS, package index)"
    if ! "${PIP[@]}" --only-binary mmcv "mmcv==$MMCV_VERSION" || ! mmcv_ok; then
        say "no working prebuilt wheel: building mmcv $MMCV_VERSION with its ops from source against torch;"
        say "this takes about 20 minutes on 2 cores (pip caches the result, so it happens once)"
        say "installing the build prerequisites (setuptools<70, wheel, ninja)"
        "${PIP[@]}" 'setuptools<70' wheel ninja
        MMCV_WITH_OPS=1 "${PIP[@]}" --no-build-isolation --force-reinstall \
            --no-deps --no-binary mmcv "mmcv==$MMCV_VERSION"
        "${PIP[@]}" "mmcv==$MMCV_VERSION"
        mmcv_ok || die "mmcv $MMCV_VERSION was built but 'import mmcv.ops' fails; see the error of: $PYTHON -c 'import mmcv.ops'"
    fi
fi

# 3. the rest, and mtcp itself (editable)
say "installing mmengine 0.10.7, mmsegmentation 1.2.2, mmdet 3.3.0, a setuptools with pkg_resources and the test tools"
"${PIP[@]}" -r requirements/runtime.txt -r requirements/tests.txt
say "installing mtcp (editable)"
"${PIP[@]}" --no-build-isolation --no-deps -e .
stack_ok || die "the installation is incomplete; see the error of: $PYTHON -c 'import mmcv.ops, mmseg, mmdet, mtcp'"
say "done: $("$PYTHON" -c 'import torch, mmcv, mmseg, mmdet, mtcp; print(f"torch {torch.__version__}, mmcv {mmcv.__version__}, mmseg {mmseg.__version__}, mmdet {mmdet.__version__}, mtcp {mtcp.__version__}")')"
