#!/usr/bin/env bash
# The chapter, reproduced: execute the notebooks in place with papermill, the training one
# with seed 000's full recipe on all of Fashion-MNIST (over an hour on 2 CPU cores, about
# five minutes on a GPU). Writes the executed notebooks, results/blocks and $OUT.
#   scripts/reproduce.sh                    # python from .venv (make reproduce sets it up)
#   PY=/path/to/python OUT=results/rerun scripts/reproduce.sh
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PY:-.venv/bin/python}
out=${OUT:-results/seed000}
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
  echo "reproduce: OUT: $out already exists and is not empty; set OUT to a new directory (nothing was overwritten)" >&2
  exit 2
fi
mkdir -p "$out"
# -k python3: the kernel of the Python that runs papermill (ipykernel's native kernel)
"$py" -m papermill -k python3 notebooks/01_blocks.ipynb notebooks/01_blocks.ipynb
# the chapter's exercises, answered by measurement (about 10 minutes on 2 cores)
"$py" -m papermill -k python3 notebooks/04_exercises.ipynb notebooks/04_exercises.ipynb
start=$(date -u +%s)
echo "started  $(date -u '+%Y-%m-%d %H:%M:%S UTC')" > "$out/wall_time.txt"
"$py" -m papermill -k python3 --log-output notebooks/02_training.ipynb notebooks/02_training.ipynb \
  -p out_dir "$out" 2>&1 | tee "$out/papermill.log"
end=$(date -u +%s)
{ echo "finished $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "wall time $((end - start)) s (notebook execution, data loading and figures included)"
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
} >> "$out/wall_time.txt"
cat "$out/wall_time.txt"
