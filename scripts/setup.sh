#!/usr/bin/env bash
# Set up everything a fresh machine needs: Fashion-MNIST and a virtual
# environment (.venv) with the package and its pinned dependencies.
#   scripts/setup.sh            # the package
#   scripts/setup.sh test       # the package, the test extras and Horovod
#   scripts/setup.sh horovod    # the package and Horovod (python -m vgg_gluon.train --horovod)
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

# 1b. For the tests: sshd and ip (network namespaces), with which
#     tests/test_multihost.py makes two test hosts; it is skipped without them.
case ",$extras," in
  *,test,*)
    if { [ ! -x /usr/sbin/sshd ] || ! command -v ip >/dev/null; } && command -v apt-get >/dev/null; then
      sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
      $sudo apt-get install -y -q openssh-server iproute2 >/dev/null 2>&1 \
        || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q openssh-server iproute2 >/dev/null 2>&1; } \
        || echo "setup: could not install openssh-server and iproute2 with apt; tests/test_multihost.py will be skipped" >&2
    fi ;;
esac

# 2. The environment.
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# horovod is not a pip extra here: it must be built against the installed mxnet (step 3)
pip_extras=$(printf '%s' "$extras" | tr ',' '\n' | grep -vx horovod | paste -sd, - || true)
.venv/bin/python -m pip install -q -e ".${pip_extras:+[$pip_extras]}"

# 3. Horovod, for the tests and when asked: built from source (cmake, a C++
#    compiler; about 2+ minutes) against the mxnet just installed, with Gloo
#    and without MPI, TensorFlow or PyTorch.
case ",$extras," in
  *,test,*|*,horovod,*)
    if ! .venv/bin/python -c 'import horovod.mxnet' 2>/dev/null; then
      .venv/bin/python -m pip install -q wheel==0.48.0
      HOROVOD_WITH_MXNET=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
        HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 \
        .venv/bin/python -m pip install -q --no-build-isolation horovod==0.28.1
    fi ;;
esac
