#!/usr/bin/env bash
# The GPU check: the trainer's speed at P = 1 to 256 heads per program, and one ELPV fc1 run at the
# paper's budget (population 30, 200 evaluations, at most 600 epochs, the paper's stopping rule) with
# batched training, every figure written to one folder.
#
#   bash benchmarks/gpu_check.sh [--out DIR] [--python PY]     # on a machine with an NVIDIA GPU
#   bash benchmarks/gpu_check.sh --dry-run                     # the same steps, tiny, on any CPU machine
#
# Needs an environment with the `[gpu]` extra (`pip install -e .[gpu]`: JAX with CUDA 12) and the
# packages of requirements.txt (the ELPV data and the offline EfficientNet-Lite0 weights). --dry-run
# runs every step end to end with tiny settings (2 heads, 2 epochs, a 12-evaluation run at 3 epochs) and
# does not need a GPU: it checks the script, not the speed. Outputs in DIR (default
# results/gpu/<date>, or /tmp/gpu_check_dry_run with --dry-run):
#   environment.txt   nvidia-smi, JAX's devices, the commit, the Python packages
#   trainer_speed.txt benchmarks/batched_speed.py: heads/s of one head per program and of P vmapped heads
#   run/              the run directory of the paper-budget run (summary.json, evaluations.csv, ...)
#   run.txt           the run's output; timings.txt: the wall seconds of each step
set -euo pipefail
cd "$(dirname "$0")/.."

DRY_RUN=0
OUT=""
PY=".venv/bin/python"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dry-run) DRY_RUN=1; shift ;;
        --out) OUT="$2"; shift 2 ;;
        --python) PY="$2"; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "gpu_check.sh: error: unknown argument '$1'; see --help" >&2; exit 2 ;;
    esac
done
if [[ ! -x "$PY" ]]; then
    echo "gpu_check.sh: error: no Python at '$PY'; make the environment (pip install -e .[gpu]) or pass --python" >&2
    exit 2
fi
if [[ -z "$OUT" ]]; then
    if [[ $DRY_RUN == 1 ]]; then OUT=/tmp/gpu_check_dry_run; rm -rf "$OUT"; else OUT="results/gpu/$(date +%Y-%m-%d)"; fi
fi
if [[ -e "$OUT/run/summary.json" ]]; then
    echo "gpu_check.sh: error: '$OUT' already holds a finished check; pass another --out" >&2
    exit 2
fi
if [[ $DRY_RUN == 0 ]] && ! command -v nvidia-smi > /dev/null; then
    echo "gpu_check.sh: error: no nvidia-smi here; run it on a machine with an NVIDIA GPU, or pass --dry-run" >&2
    exit 2
fi
mkdir -p "$OUT"
export KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=2

if [[ $DRY_RUN == 1 ]]; then
    HEADS=(1 2); EPOCHS=2
    # the paper preset's path, cut down: 128 px (the cache `evoprune run` makes), 16-unit heads
    RUN_ARGS=(--preset paper --image-size 128 --population 4 --evaluations 12 --max-epochs 3 --in-flight 2
              --hidden-units 16)
else
    HEADS=(1 2 4 8 16 32 64 128 256); EPOCHS=20
    RUN_ARGS=(--preset paper --in-flight 16)
fi

timed() {  # timed NAME FILE COMMAND...: run it (output to FILE), append its wall seconds to timings.txt
    local name="$1" file="$2"; shift 2
    local start=$EPOCHREALTIME
    "$@" > "$file" 2>&1
    awk -v name="$name" -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%s %.1f s\n", name, b - a }' \
        | tee -a "$OUT/timings.txt"
}

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "dry run: $DRY_RUN"
    nvidia-smi 2>&1 || echo "nvidia-smi: not found"
    "$PY" -c "import jax; print('jax', jax.__version__, jax.default_backend(), jax.devices())"
    "$PY" -m pip freeze 2>/dev/null
} > "$OUT/environment.txt"

timed trainer_speed "$OUT/trainer_speed.txt" "$PY" benchmarks/batched_speed.py --heads "${HEADS[@]}" \
    --epochs "$EPOCHS"
timed paper_run "$OUT/run.txt" "$PY" -m evoprune_deap run "${RUN_ARGS[@]}" --encoding fc1 --engine batched \
    --workers 1 --seed 0 --run-dir "$OUT/run"
echo "gpu_check.sh: every figure is in $OUT"
