"""What every ``python -m vgg_gluon.X`` command shares.

One-line usage errors (``Parser``), the flag types, the one printer of bad
input (``fail``: one line on stderr, exit status 2), the settings given
explicitly on a command line, and opening a run directory for the commands
that take one (evaluate, predict, export, testtime).
"""
import argparse
import sys

from .devices import select_ctx
from .errors import Error
from .rundir import EPOCHS, load_model

# settings that commands take as positional arguments, spelled as their usage shows them
POSITIONAL = {'run_dir': 'RUN_DIR', 'images': 'IMAGE'}


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _typed(convert, allowed, what=''):
    def parse(text):
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed}{what}, got {text!r}") from None
    return parse


def int_arg(allowed):
    """An argparse type: an integer; the message says what is ``allowed``."""
    return _typed(int, allowed)


def float_arg(allowed):
    """An argparse type: a number; the message says what is ``allowed``."""
    return _typed(float, allowed)


def pair_arg(allowed):
    """An argparse type: 'A,B' -> [A, B], two integers."""
    def pair(text):
        first, second = (int(v) for v in text.split(','))
        return [first, second]
    return _typed(pair, allowed, ' (two integers)')


def int_list_arg(allowed):
    """An argparse type: 'A,B,...' -> [A, B, ...], integers."""
    return _typed(lambda text: [int(v) for v in text.split(',')], allowed, ' (integers)')


def spell(flag):
    """A setting's name as the command line spells it: 'batch_size' -> '--batch-size'."""
    return POSITIONAL.get(flag) or '--' + flag.replace('_', '-')


def fail(prog, err):
    """Print one line on stderr for bad input (an ``Error``, or a message); return 2."""
    if isinstance(err, Error) and err.flag:
        print(f"{prog}: error: {spell(err.flag)}: {err}", file=sys.stderr)
    else:
        print(f"{prog}: error: {err}", file=sys.stderr)
    return 2


def explicit_settings(build_parser, argv):
    """{dest: value} of the flags given in ``argv``, without any default.

    build_parser(defaults=False) must build the command's parser with every
    default ``argparse.SUPPRESS``, so that only given flags appear.
    """
    return vars(build_parser(defaults=False).parse_args(argv))


def run_dir_parser(prog, description, epilog=None):
    """A parser with RUN_DIR and the guards every run-directory command accepts."""
    p = Parser(prog=prog, description=description, epilog=epilog,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('run_dir', metavar='RUN_DIR',
                   help='a directory written by python -m vgg_gluon.train')
    p.add_argument('--arch', default=None,
                   help='refuse the run unless its network is this architecture')
    p.add_argument('--ratio', type=int_arg('a positive integer'), default=None,
                   help='refuse the run unless its network has this ratio')
    p.add_argument('--gpus', default='auto', help="auto (gpu 0 if present), cpu, or an id like 0")
    p.add_argument('--epoch', choices=EPOCHS, default='last',
                   help='the parameters of the last epoch, or of the one with the best '
                        'test accuracy')
    return p


def open_run(args):
    """(net, config, ctx): the run's network, checked, on the first asked device."""
    ctx = select_ctx(args.gpus)[0]
    net, config = load_model(args.run_dir, ctx=ctx, arch=args.arch, ratio=args.ratio,
                             epoch=args.epoch)
    return net, config, ctx
