#!/usr/bin/env bash
# Set up everything a fresh machine needs: Fashion-MNIST and a virtual
# environment (.venv) with the package and its pinned dependencies.
#   scripts/setup.sh            # the package
#   scripts/setup.sh test       # the package and the test extras
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-}

# 1. The data set: Debian's package where apt is available, else Gluon's
#    download on first use (vgg_gluon.data.find_data_dir).
if [ ! -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] && command -v apt-get >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } \
    || echo "setup: could not install dataset-fashion-mnist with apt; the data set will be downloaded on first use" >&2
fi

# 2. The environment.
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".${extras:+[$extras]}"
