#!/usr/bin/env bash
# Training on a Slurm cluster, one task per GPU.
#
# Usage: [GPUS=4] [GPUS_PER_NODE=4] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#     [REQUEUE=1] bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py options]
#
# mmsegmentation's signature: the work dir is a train.py option
# (--work-dir DIR), ./work_dirs/<config name> by default.
#
# Pre-emption and time limits: on SIGTERM or SIGUSR1 train.py finishes the
# iteration, writes a resumable checkpoint and exits with status 75. Run from
# an sbatch script (see docs/tools.md), this script then requeues the job
# (`scontrol requeue $SLURM_JOB_ID`; REQUEUE=0: no), and the requeued job,
# started with --resume, continues from that checkpoint:
#
#   #SBATCH --signal=USR1@600 --requeue --open-mode=append
#   bash tools/slurm_train.sh PARTITION JOB CONFIG --work-dir DIR --resume
set -euo pipefail

USAGE="usage: $0 PARTITION JOB_NAME CONFIG [train.py options]"
[ $# -ge 3 ] || { echo "$USAGE" >&2; exit 2; }
TOOLS_DIR=$(dirname "$0")
# train.py's status after a pre-emption checkpoint (EX_TEMPFAIL)
PREEMPTED=75
status=0
bash "$TOOLS_DIR/slurm_launch.sh" "$1" "$2" "$TOOLS_DIR/train.py" "$3" \
    --launcher=slurm "${@:4}" || status=$?
if [ "$status" -eq "$PREEMPTED" ] && [ -n "${SLURM_JOB_ID:-}" ] && [ "${REQUEUE:-1}" != 0 ]; then
    echo "slurm_train.sh: training saved a checkpoint and stopped; requeueing job $SLURM_JOB_ID" >&2
    scontrol requeue "$SLURM_JOB_ID"
fi
exit "$status"
