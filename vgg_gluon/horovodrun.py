"""``python -m vgg_gluon.horovodrun ARGS``: Horovod's ``horovodrun ARGS`` on every supported Python.

    python -m vgg_gluon.horovodrun -np 2 -H localhost:2 --gloo python -m vgg_gluon.train --horovod

Before it starts anything, horovodrun checks that Horovod has Gloo by importing
``horovod.mxnet`` in a forked copy of itself. On numpy 1.24+ (Python 3.12 and
3.13) that ``import mxnet`` fails unless vgg_gluon._compat has run first, and
horovodrun then says "Gloo support has not been built". This is horovodrun,
run after that step; the workers it starts import vgg_gluon themselves.
"""
import os
import sys

from . import _threads

PROG = 'python -m vgg_gluon.horovodrun'


def main(argv=None):
    """Run horovodrun with ``argv`` (default: this command's arguments)."""
    if not _threads.USER_SET:  # set by `import vgg_gluon`: let each worker size its own host
        os.environ.pop('OMP_NUM_THREADS', None)
    try:
        from horovod.runner.launch import run_commandline
    except ImportError:
        print(f"{PROG}: Horovod is not installed (scripts/setup.sh horovod)", file=sys.stderr)
        return 2
    sys.argv = ['horovodrun'] + list(sys.argv[1:] if argv is None else argv)
    run_commandline()  # horovodrun's own exit: it raises (or exits) when the job fails
    return 0


if __name__ == '__main__':
    sys.exit(main())
