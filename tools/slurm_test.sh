#!/usr/bin/env bash
# Testing on a Slurm cluster, one task per GPU.
#
# Usage: [GPUS=4] [GPUS_PER_NODE=4] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#     bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]
set -euo pipefail

USAGE="usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]"
[ $# -ge 4 ] || { echo "$USAGE" >&2; exit 2; }
TOOLS_DIR=$(dirname "$0")
exec bash "$TOOLS_DIR/slurm_launch.sh" "$1" "$2" "$TOOLS_DIR/test.py" "$3" "$4" \
    --launcher=slurm "${@:5}"
