"""Give MXNet every core before it starts.

MXNet 1.9.1 sizes its OpenMP pool at half the processor count when
``OMP_NUM_THREADS`` is unset (it assumes hyper-threading), which leaves half
of a 2-core machine idle: about 2x slower here. The variable is read once,
when libmxnet loads, so this module must run before ``import mxnet``.
"""
import os


def default_threads():
    """The number of cores this process may run on (honours taskset/cgroups)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


# whether the user chose OMP_NUM_THREADS (vgg_gluon.launch splits the cores otherwise)
USER_SET = 'OMP_NUM_THREADS' in os.environ


def set_default_threads():
    """Set ``OMP_NUM_THREADS`` to the usable core count unless the user set it."""
    os.environ.setdefault('OMP_NUM_THREADS', str(default_threads()))
    return int(os.environ['OMP_NUM_THREADS'])


set_default_threads()
