#!/usr/bin/env bash
# The srun launch shared by slurm_train.sh and slurm_test.sh.
#
# Usage: [GPUS=4] [GPUS_PER_NODE=4] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#     bash tools/slurm_launch.sh PARTITION JOB_NAME SCRIPT [SCRIPT arguments]
# Runs SCRIPT (a path) as one task per GPU with the repository on PYTHONPATH.
set -euo pipefail

GPUS_PER_NODE=${GPUS_PER_NODE:-4}
TOOLS_DIR=$(dirname "$0")
set -x
# SRUN_ARGS is split on purpose: it holds several srun options.
# shellcheck disable=SC2086
PYTHONPATH="$TOOLS_DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$1" \
    --job-name="$2" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="${GPUS:-4}" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="${CPUS_PER_TASK:-5}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS:-} \
    python -u "${@:3}"
