"""``python -m vgg_gluon.testtime RUN_DIR``: the paper's test-time evaluations.

    python -m vgg_gluon.testtime runs/20261123-101500 --test-samples 1000

Single-scale, dense, multi-crop, with and without flips, over several test
scales Q (Simonyan & Zisserman, sec. 3.2 and 4.2-4.3): ``multiscale.py``
says how each is computed.
"""
import argparse
import json
import sys

from . import _threads  # noqa: F401  (before mxnet)
from .cli import Parser, fail, int_arg
from .data import load_data_fashion_mnist
from .devices import select_ctx
from .errors import ConfigError, Error
from .multiscale import accuracy_table, default_scales, evaluate_views, format_rows
from .rundir import EPOCHS, load_model

PROG = 'python -m vgg_gluon.testtime'


def build_parser():
    p = Parser(prog=PROG, description=__doc__.split('\n')[0],
               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('run_dir', metavar='RUN_DIR',
                   help='a run directory of python -m vgg_gluon.train (config.json, model.params)')
    p.add_argument('--scales', default=None,
                   help='test sides Q, comma-separated, each >= the training --resize '
                        '(default: S_min,mid,S_max after --scale-jitter, else S,1.25S,1.5S)')
    p.add_argument('--crop-grid', type=int_arg('a positive integer'), default=3,
                   help='multi-crop: a GxG grid of crops per scale (the paper: 5)')
    p.add_argument('--average', choices=('softmax', 'logits'), default='softmax',
                   help="dense evaluation: average the score map's posteriors or its logits")
    p.add_argument('--test-samples', type=int_arg('a positive integer'), default=None,
                   help='evaluate the first N test images only (quick runs)')
    p.add_argument('--batch-size', type=int_arg('a positive integer'), default=64)
    p.add_argument('--data-dir', default=None, help='Fashion-MNIST IDX files (default: search)')
    p.add_argument('--gpus', default='auto', help='auto (gpu 0 if present), cpu, or an id like 0')
    p.add_argument('--epoch', choices=EPOCHS, default='last',
                   help='the last epoch\'s parameters, or the best test accuracy\'s')
    p.add_argument('--json', action='store_true', help='print JSON instead of the table')
    return p


def _scales(args, config):
    """The test sides Q asked for (or the defaults); ConfigError naming --scales."""
    if args.scales is None:
        return default_scales(config)
    try:
        scales = sorted({int(v) for v in args.scales.split(',')})
    except ValueError:
        scales = []
    if not scales or scales[0] < config.resize or scales[-1] > 8 * config.resize:
        raise ConfigError(f"must be integers from {config.resize} (the training --resize) to "
                          f"{8 * config.resize}, comma-separated; got {args.scales!r}",
                          flag='scales')
    return scales


def main(argv=None):
    """Print the accuracies; 0, or 2 on bad input (one line on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        for flag in ('crop_grid', 'batch_size', 'test_samples'):
            value = getattr(args, flag)
            if value is not None and value < 1:
                raise ConfigError(f"must be a positive integer, got {value}", flag=flag)
        ctx = select_ctx(args.gpus)[0]
        net, config = load_model(args.run_dir, ctx=ctx, epoch=args.epoch)
        scales = _scales(args, config)
        _, test_iter = load_data_fashion_mnist(args.batch_size, root=args.data_dir,
                                               test_samples=args.test_samples)
    except Error as err:
        return fail(PROG, err)
    net.hybridize()
    results = evaluate_views(net, test_iter.images, config.resize, scales,
                             crop_grid=args.crop_grid, batch_size=args.batch_size,
                             average=args.average, ctx=ctx)
    rows = accuracy_table(results, test_iter.labels, config.resize, scales, args.crop_grid)
    if args.json:
        print(json.dumps({'run_dir': args.run_dir, 'train_size': config.resize,
                          'test_samples': len(test_iter.labels), 'average': args.average,
                          'crop_grid': args.crop_grid, 'rows': rows}, indent=1))
    else:
        print(format_rows(rows, config, len(test_iter.labels)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
