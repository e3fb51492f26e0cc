"""What the run-directory commands (evaluate, predict, export) share."""
import sys

from .checkpoint import CheckpointError
from .config import ConfigError
from .data import DataError
from .train import _Parser, _int_arg


def run_dir_parser(prog, description, epilog=None):
    """A parser with RUN_DIR and the guards every command accepts."""
    import argparse
    p = _Parser(prog=prog, description=description, epilog=epilog,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('run_dir', metavar='RUN_DIR',
                   help='a directory written by python -m vgg_gluon.train')
    p.add_argument('--arch', default=None,
                   help='refuse the run unless its network is this architecture')
    p.add_argument('--ratio', type=_int_arg('a positive integer'), default=None,
                   help='refuse the run unless its network has this ratio')
    p.add_argument('--gpus', default='auto', help="auto (gpu 0 if present), cpu, or an id like 0")
    return p


def open_run(args):
    """(net, config, ctx): the run's network, checked, on the first asked device."""
    from .checkpoint import load_model
    from .train import select_ctx
    ctx = select_ctx(args.gpus)
    ctx = ctx[0] if isinstance(ctx, list) else ctx
    net, config = load_model(args.run_dir, ctx=ctx, arch=args.arch, ratio=args.ratio)
    return net, config, ctx


def fail(prog, err):
    """One line on stderr for bad input; returns exit status 2."""
    if isinstance(err, ConfigError):
        print(f"{prog}: error: {err}", file=sys.stderr)
    elif isinstance(err, (CheckpointError, DataError)):
        print(f"{prog}: error: {err.flag}: {err}", file=sys.stderr)
    else:
        print(f"{prog}: error: {err}", file=sys.stderr)
    return 2


INPUT_ERRORS = (ConfigError, CheckpointError, DataError)
