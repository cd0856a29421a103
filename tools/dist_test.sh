#!/usr/bin/env bash
# Multi-process testing with torchrun on one or several nodes.
#
# Usage: bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]
# Environment: NNODES (1), NODE_RANK (0), PORT (29500), MASTER_ADDR (127.0.0.1).
# GPUS is the number of processes per node; without GPUs they run on CPU (gloo).
set -euo pipefail

USAGE="usage: $0 CONFIG CHECKPOINT GPUS [test.py options]"
[ $# -ge 3 ] || { echo "$USAGE" >&2; exit 2; }
TOOLS_DIR=$(dirname "$0")
exec bash "$TOOLS_DIR/dist_launch.sh" "$3" "$TOOLS_DIR/test.py" "$1" "$2" \
    --launcher pytorch "${@:4}"
