#!/usr/bin/env bash
# The torchrun launch shared by dist_train.sh and dist_test.sh.
#
# Usage: bash tools/dist_launch.sh GPUS SCRIPT [SCRIPT arguments]
# Runs SCRIPT (a path) in GPUS processes per node with the repository on
# PYTHONPATH. Environment: NNODES (1), NODE_RANK (0), PORT (29500),
# MASTER_ADDR (127.0.0.1).
set -euo pipefail

TOOLS_DIR=$(dirname "$0")
PYTHONPATH="$TOOLS_DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
python -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$1" \
    --master_port="${PORT:-29500}" \
    "${@:2}"
