#!/usr/bin/env bash
# The chapter, reproduced: set up, then execute the notebooks in place with papermill
# (01 and 04 at their defaults, then 02 with full = True: seed 000's recipe on all of
# Fashion-MNIST, 12 to 66 min on 2 CPU cores: results/seed000*/wall_time.txt). The notebooks
# are rewritten in place; the files they write go under $OUT: the training run itself,
# OUT/blocks (01) and OUT/exercises (04).
#   scripts/reproduce.sh                      # OUT=results/seed000-<UTC date>, python from .venv
#   OUT=results/rerun scripts/reproduce.sh    # a directory of your own; it must be new or empty
#   OUT=results/seed000 FORCE=1 scripts/reproduce.sh   # overwrite the committed run
#   PYTHON=/usr/bin/python3.12 scripts/reproduce.sh   # .venv-3.12 and its kernel vgg-gluon-3.12
# make reproduce sets PY, KERNEL and PYTHON from the Makefile's PYTHON.
# SETUP: the set-up script to run (default scripts/setup.sh), given the argument "test".
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-results/seed000-$(date -u +%F)}

# First of all, before any set-up (pip, apt, a new .venv): an hour-long run must not
# overwrite a finished one by accident.
if [ -e "$out" ] && [ ! -d "$out" ]; then
  echo "reproduce: OUT=$out exists and is not a directory; nothing was set up or changed" >&2
  exit 2
fi
if [ -d "$out" ] && [ -n "$(ls -A "$out")" ] && [ "${FORCE:-}" != 1 ]; then
  echo "reproduce: OUT=$out exists and is not empty; give a new OUT=DIR, or FORCE=1 to overwrite it (nothing was set up or changed)" >&2
  exit 2
fi

# the test extras hold papermill; Horovod is not needed to run the notebooks
"${SETUP:-scripts/setup.sh}" test
# the environment setup.sh made (.venv, or .venv-X.Y for PYTHON=) and the kernel it registered
venv=$(scripts/setup.sh --venv-dir)
py=${PY:-$venv/bin/python}
kernel=${KERNEL:-vgg-gluon${venv#.venv}}
# papermill's injected-parameters cells become notes, also when a notebook fails: run in
# class, they would redo this run into $OUT
trap '"$py" scripts/record_parameters.py notebooks/01_blocks.ipynb notebooks/04_exercises.ipynb notebooks/02_training.ipynb >&2' EXIT
mkdir -p "$out"
# the notebooks run from notebooks/ (as in Jupyter): their out_dir is relative to it
case $out in /*) nb_out=$out ;; *) nb_out=../$out ;; esac
papermill() { "$py" -m papermill --cwd notebooks -k "$kernel" "$@"; }

papermill notebooks/01_blocks.ipynb notebooks/01_blocks.ipynb -p out_dir "$nb_out/blocks"
# the chapter's exercises, answered by measurement (benchmarks/results/2026-12-04_notebook_times.txt)
papermill notebooks/04_exercises.ipynb notebooks/04_exercises.ipynb -p out_dir "$nb_out/exercises"
start=$(date -u +%s)
echo "started  $(date -u '+%Y-%m-%d %H:%M:%S UTC')" > "$out/wall_time.txt"
papermill --log-output notebooks/02_training.ipynb notebooks/02_training.ipynb \
  -p out_dir "$nb_out" -p full True 2>&1 | tee "$out/papermill.log"
end=$(date -u +%s)
{ echo "finished $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "wall time $((end - start)) s (notebook execution, data loading and figures included)"
  cpu() { grep -m1 "^$1" /proc/cpuinfo | cut -d: -f2 | xargs; }
  echo "machine: $(nproc) cores, $(cpu 'model name') (cpu family $(cpu 'cpu family'), model $(cpu 'model\s*:'))"
} >> "$out/wall_time.txt"
cat "$out/wall_time.txt"
