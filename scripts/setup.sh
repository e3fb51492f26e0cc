#!/usr/bin/env bash
# Set up everything a fresh machine needs: Fashion-MNIST and a virtual
# environment with the package and its pinned dependencies.
#   scripts/setup.sh            # the package
#   scripts/setup.sh test          # the package and the test extras (and, on the default
#                                  # python3, the docs extra: tests/docs/ build the site)
#   scripts/setup.sh test,horovod,browser  # ... Horovod, and the page's browser tests'
#                                          # (Gradio, Playwright, Debian's chromium): make test
#   scripts/setup.sh demo          # the package and Gradio: vgg-gluon demo (make demo)
#   scripts/setup.sh horovod       # the package and Horovod (python -m vgg_gluon.train --horovod)
#   scripts/setup.sh --venv-dir # print the environment's directory (for the Makefile)
# The Python: $PYTHON if set, in its own environment .venv-X.Y (e.g. .venv-3.12);
# else python3 if it is CPython 3.10-3.13, else the first of python3.12, python3.11,
# python3.10, python3.13 on PATH, in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-}
SUPPORTED="3.10 3.11 3.12 3.13"  # as pyproject.toml's requires-python

version() {  # "3.12" for a CPython that runs, nothing otherwise (pyenv's shims fail when unselected)
  "$1" -c 'import sys; sys.implementation.name == "cpython" and print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}
supported() { [ -n "$1" ] && case " $SUPPORTED " in *" $1 "*) true ;; *) false ;; esac; }

if [ -n "${PYTHON:-}" ]; then
  python=$PYTHON
  v=$(version "$python")
  if ! supported "$v"; then
    what=${v:+Python $v}
    echo "setup: PYTHON=$python is ${what:-not a CPython that runs}; vgg_gluon needs CPython 3.10-3.13 (e.g. PYTHON=/usr/bin/python3.12)" >&2
    exit 2
  fi
  venv=.venv-$v
else
  python=""
  # 3.13 last: pip builds numpy from source there (no numpy < 2 wheel for 3.13)
  for candidate in python3 python3.12 python3.11 python3.10 python3.13; do
    if command -v "$candidate" >/dev/null && supported "$(version "$candidate")"; then python=$candidate; break; fi
  done
  if [ -z "$python" ]; then
    found=$(version python3)
    echo "setup: no CPython 3.10-3.13 found (python3: ${found:+Python }${found:-none that runs}): install one, e.g. 'apt install python3.12 python3.12-venv', or give PYTHON=/path/to/python3.X" >&2
    exit 1
  fi
  [ "$python" = python3 ] || echo "setup: python3 is not a CPython 3.10-3.13; using $python" >&2
  v=$(version "$python")
  venv=.venv
fi
if [ "$extras" = --venv-dir ]; then echo "$venv"; exit 0; fi

# 1. The data set: Debian's package where apt is available, else Gluon's
#    download on first use (vgg_gluon.data.fashion_mnist.find_data_dir).
if [ ! -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] && command -v apt-get >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } \
    || echo "setup: could not install dataset-fashion-mnist with apt; the data set will be downloaded on first use" >&2
fi

# 1b. For the tests: sshd and ip (network namespaces), with which
#     tests/training/test_multihost.py makes two test hosts; it is skipped without them.
case ",$extras," in
  *,test,*)
    if { [ ! -x /usr/sbin/sshd ] || ! command -v ip >/dev/null; } && command -v apt-get >/dev/null; then
      sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
      $sudo apt-get install -y -q openssh-server iproute2 >/dev/null 2>&1 \
        || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q openssh-server iproute2 >/dev/null 2>&1; } \
        || echo "setup: could not install openssh-server and iproute2 with apt; tests/training/test_multihost.py will be skipped" >&2
    fi ;;
esac

# 1c. For the page's browser tests: Debian's chromium, which Playwright drives
#     (never `playwright install`: it downloads a browser); they skip without it.
case ",$extras," in
  *,browser,*)
    if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
      sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
      $sudo apt-get install -y -q chromium >/dev/null 2>&1 \
        || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q chromium >/dev/null 2>&1; } \
        || echo "setup: could not install chromium with apt; tests/visual/test_browser.py will be skipped" >&2
    fi ;;
esac

# 2. The environment.
if [ -x "$venv/bin/python" ] && [ "$(version "$venv/bin/python")" != "$v" ]; then
  echo "setup: $venv holds Python $(version "$venv/bin/python"), not $v ($python): remove it (rm -rf $venv) and run again" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv" || {
    rm -rf "$venv"
    echo "setup: $python cannot make a virtual environment: install its venv module (Debian/Ubuntu: apt install python$v-venv)" >&2
    exit 1
  }
fi
py=$venv/bin/python
$py -m pip install -q --upgrade pip >/dev/null
# horovod is not a pip extra here: it must be built against the installed mxnet (step 3)
pip_extras=$(printf '%s' "$extras" | tr ',' '\n' | grep -vx horovod | paste -sd, - || true)
# the docs extra (mkdocs, Material, mkdocs-jupyter) comes with the tests on the default
# python3 only, as the browser tests' packages do: tests/docs/ build the site there, and
# skip saying why on the other versions (.ci/run gives those PYTHON=)
case ",$extras," in
  *,test,*) [ -n "${PYTHON:-}" ] || pip_extras=$pip_extras,docs ;;
esac
$py -m pip install -q -e ".${pip_extras:+[$pip_extras]}"

# 3. Horovod, for the tests and when asked: built from source (cmake, a C++
#    compiler; about 2+ minutes) against the mxnet just installed, with Gloo
#    and without MPI, TensorFlow or PyTorch. Then checked: a wheel from pip's
#    cache may have been built without Gloo (or against another mxnet).
horovod_problem() {  # prints what is wrong with the installed Horovod, nothing if it works
  $py - <<'EOF' 2>/dev/null || echo "its check crashed"
import importlib.util
if importlib.util.find_spec('horovod') is None:
    print('not installed')
else:
    import vgg_gluon  # noqa: F401  (numpy names mxnet needs, before horovod.mxnet imports it)
    try:
        import horovod.mxnet as hvd
    except Exception as err:  # any failure to load its library is the answer here
        print(f'horovod.mxnet does not import ({type(err).__name__}: {str(err).splitlines()[0]})')
    else:
        if not hvd.gloo_built():
            print('it was built without Gloo')
EOF
}
build_horovod() {  # pip options, e.g. --no-cache-dir
  # Horovod's build runs `python -c "import mxnet ..."` (its FindMxnet.cmake) to find
  # MXNet's headers; on numpy 1.24+ that import needs vgg_gluon/_compat.py first, so a
  # sitecustomize.py on the build's PYTHONPATH loads that file (by path, nothing else).
  local shim
  shim=$(mktemp -d)
  printf 'import importlib.util as u\ns = u.spec_from_file_location("_vgg_gluon_compat", %s)\ns.loader.exec_module(u.module_from_spec(s))\n' \
    "'$PWD/vgg_gluon/_compat.py'" > "$shim/sitecustomize.py"
  $py -m pip install -q wheel==0.48.0
  PYTHONPATH="$shim${PYTHONPATH:+:$PYTHONPATH}" \
    HOROVOD_WITH_MXNET=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
    HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 \
    $py -m pip install -q --no-build-isolation "$@" horovod==0.28.1 || {
      rm -rf "$shim"
      echo "setup: building Horovod 0.28.1 failed (it needs cmake and a C++ compiler: apt install cmake g++); see pip's output above" >&2
      exit 1
    }
  rm -rf "$shim"
}
case ",$extras," in
  *,horovod,*)
    problem=$(horovod_problem)
    if [ "$problem" = "not installed" ]; then
      build_horovod
      problem=$(horovod_problem)
    fi
    if [ -n "$problem" ]; then
      echo "setup: Horovod: $problem; rebuilding it from source without pip's wheel cache" >&2
      build_horovod --no-cache-dir --force-reinstall --no-deps
      problem=$(horovod_problem)
      [ -z "$problem" ] || { echo "setup: Horovod is still unusable after a rebuild from source: $problem" >&2; exit 1; }
    fi ;;
esac

# 4. The notebooks' Jupyter kernel: "vgg-gluon" runs this environment's Python, whichever
#    Jupyter opens the notebooks (their kernelspec names it). A PYTHON= environment gets
#    its own, vgg-gluon-X.Y, so the default one keeps pointing at .venv.
kernel=vgg-gluon${PYTHON:+-$v}
$py -m ipykernel install --user --name "$kernel" --display-name "Python ($kernel)" >/dev/null 2>&1 \
  || echo "setup: could not register the Jupyter kernel $kernel (run: $py -m ipykernel install --user --name $kernel)" >&2
