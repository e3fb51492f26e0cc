"""``python -m vgg_gluon.summary``: a VGG network's layer table.

    python -m vgg_gluon.summary --arch vgg11 --ratio 4 --resize 96
    python -m vgg_gluon.summary --arch vgg16 --resize 224 --in-channels 3 --classes 1000

One row per layer and a line per block: output shape, parameters,
multiply-accumulates and receptive field; totals at the bottom
(``layer_table.py`` says how each is computed).
"""
import argparse
import json
import sys

from . import _threads  # noqa: F401  (before mxnet)
from .arch import ARCH_NAMES
from .cli import Parser, fail, int_arg
from .config import Config
from .errors import ConfigError
from .layer_table import format_table, summarize

PROG = 'python -m vgg_gluon.summary'


def build_parser():
    p = Parser(prog=PROG, description=__doc__.split('\n')[0],
               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--arch', default='vgg11',
                   help=f"{', '.join(ARCH_NAMES)} or blocks as CONVSxCHANNELS,...")
    # Defaults: the book's first network, VGG-11 in full on one 224-pixel
    # Fashion-MNIST channel (d2lzh's 'X = nd.random.uniform(shape=(1, 1, 224, 224))').
    p.add_argument('--ratio', type=int_arg('a positive integer'), default=1,
                   help='divide every conv channel count by this (the book trains with 4)')
    p.add_argument('--resize', type=int_arg('an integer of at least 32'), default=224,
                   help='input side in pixels')
    p.add_argument('--in-channels', type=int_arg('a positive integer'), default=1,
                   help='input channels (1: Fashion-MNIST, 3: ImageNet)')
    p.add_argument('--classes', type=int_arg('a positive integer'), default=10,
                   help='output classes (10: Fashion-MNIST, 1000: ImageNet)')
    p.add_argument('--scale-dense', action='store_true', help='also divide the dense width by --ratio')
    p.add_argument('--json', action='store_true', help='print JSON instead of the table')
    return p


def main(argv=None):
    """Print the table; 0, or 2 on bad input (one line on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        Config(arch=args.arch, ratio=args.ratio, resize=args.resize,
               scale_dense=args.scale_dense).validate()
        for flag in ('in_channels', 'classes'):
            if getattr(args, flag) < 1:
                raise ConfigError(f"must be a positive integer, got {getattr(args, flag)!r}",
                                  flag=flag)
    except ConfigError as err:
        return fail(PROG, err)
    table = summarize(args.arch, args.ratio, args.resize, args.in_channels, args.classes,
                      args.scale_dense)
    print(json.dumps(table, indent=1) if args.json else format_table(table))
    return 0


if __name__ == '__main__':
    sys.exit(main())
