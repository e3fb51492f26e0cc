"""``python -m vgg_gluon.convert RUN_DIR``: rewrite a run directory of checkpoint format 1.

    python -m vgg_gluon.convert runs/20261123-0930

Format 1 (vgg_gluon before checkpoints left pickle) kept the optimizer
states as a Python pickle, MXNet's Trainer.save_states. Loading a pickle runs
whatever code it names, so --resume, evaluate, predict, export and testtime
refuse such a directory. THIS COMMAND UNPICKLES that file: run it only on a
run directory you trust (one you trained yourself, or from someone you
trust). It checks the file against the manifest's sha256, unpickles it, writes
the arrays as an MXNet NDArray file and the counters as JSON in the manifest
(format 2, which nothing can run code from), then removes the pickle.
Exit status: 0 converted (or already format 2), 2 a directory it cannot
convert, 74 a file it cannot write.
"""
import argparse
import sys

from . import _threads  # noqa: F401  (before mxnet)
from .cli import Parser, fail
from .errors import Error

PROG = 'python -m vgg_gluon.convert'


def build_parser():
    p = Parser(prog=PROG, description=__doc__.split('\n')[0],
               epilog=__doc__.split('\n', 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('run_dir', metavar='RUN_DIR',
                   help='a run directory of format 1 that you trust (it will be unpickled)')
    return p


def main(argv=None):
    """Entry point; returns the exit status (0, 2: cannot convert, 74: cannot write)."""
    from .legacy import convert
    args = build_parser().parse_args(argv)
    try:
        manifest = convert(args.run_dir)
    except Error as err:
        return fail(PROG, err)
    except OSError as err:
        print(f"{PROG}: error: cannot write {err.filename}: {err.strerror}; {args.run_dir} is "
              f"in one format or the other, never a mixture: run this again once it can be "
              f"written", file=sys.stderr)
        return 74
    if manifest is None:
        print(f"{args.run_dir} is already in checkpoint format 2; nothing to do")
    else:
        print(f"converted {args.run_dir} (epoch {manifest['epoch']}) to checkpoint format 2: "
              f"optimizer states in {manifest['files']['states'] or '(none: parameter server)'}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
