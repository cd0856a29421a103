#!/usr/bin/env bash
# The torchrun launch shared by dist_train.sh and dist_test.sh.
#
# Usage: bash tools/dist_launch.sh GPUS SCRIPT [SCRIPT arguments]
# Runs SCRIPT (a path) in GPUS processes per node with the repository on
# PYTHONPATH. Environment: NNODES (1), NODE_RANK (0), PORT (29500),
# MASTER_ADDR (127.0.0.1), SIGNALS (below).
#
# torchrun forwards the signals it handles to the processes and kills them
# 30 s later; by default it handles SIGTERM, SIGINT, SIGHUP and SIGQUIT and
# dies of any other. SIGUSR1, the signal of `sbatch --signal=USR1@<seconds>`
# on which train.py saves and stops, is added (SIGNALS: the list to handle;
# torchrun's --signals-to-handle, or TORCHELASTIC_SIGNALS_TO_HANDLE for a
# torch without that option).
set -euo pipefail

TOOLS_DIR=$(dirname "$0")
SIGNALS=${SIGNALS:-SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1}
export TORCHELASTIC_SIGNALS_TO_HANDLE=$SIGNALS
SIGNAL_OPTION=()
# torchrun's own file, read without importing torch
RUN_PY=$(python -c 'import importlib.util as u; print(u.find_spec("torch").submodule_search_locations[0])')/distributed/run.py
if grep -q -- --signals-to-handle "$RUN_PY" 2>/dev/null; then
    SIGNAL_OPTION=(--signals-to-handle="$SIGNALS")
fi
PYTHONPATH="$TOOLS_DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
python -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$1" \
    --master_port="${PORT:-29500}" \
    "${SIGNAL_OPTION[@]}" \
    "${@:2}"
