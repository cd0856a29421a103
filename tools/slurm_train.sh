#!/usr/bin/env bash
# Training on a Slurm cluster, one task per GPU.
#
# Usage: [GPUS=4] [GPUS_PER_NODE=4] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#     bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py options]
#
# mmsegmentation's signature: the work dir is a train.py option
# (--work-dir DIR), ./work_dirs/<config name> by default.
set -euo pipefail

USAGE="usage: $0 PARTITION JOB_NAME CONFIG [train.py options]"
[ $# -ge 3 ] || { echo "$USAGE" >&2; exit 2; }
TOOLS_DIR=$(dirname "$0")
exec bash "$TOOLS_DIR/slurm_launch.sh" "$1" "$2" "$TOOLS_DIR/train.py" "$3" \
    --launcher=slurm "${@:4}"
