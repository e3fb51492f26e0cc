"""``python -m vgg_gluon.testtime RUN_DIR``: the paper's test-time evaluations.

    python -m vgg_gluon.testtime runs/20261123-101500 --test-samples 1000

Single-scale, dense, multi-crop, with and without flips, over several test
scales Q (Simonyan & Zisserman, sec. 3.2 and 4.2-4.3): ``multiscale.py``
says how each is computed.
"""
import json
import sys

from .cli.arguments import (add_precision_args, doc_body, doc_summary, notice, open_run,
                            positive_int_arg, precision_root, prog, report, run_dir_parser)
from .errors import ConfigError, VGGGluonError


def build_parser():
    p = run_dir_parser('testtime', doc_summary(__doc__), epilog=doc_body(__doc__))
    p.add_argument('--scales', default=None,
                   help='test sides Q, comma-separated, each >= the training --resize '
                        '(default: S_min,mid,S_max after --scale-jitter, else S,1.25S,1.5S)')
    p.add_argument('--crop-grid', type=positive_int_arg(), default=3,
                   help='multi-crop: a GxG grid of crops per scale (the paper: 5)')
    p.add_argument('--average', choices=('softmax', 'logits'), default='softmax',
                   help="dense evaluation: average the score map's posteriors or its logits")
    p.add_argument('--test-samples', type=positive_int_arg(), default=None,
                   help='evaluate the first N test images only (default: all 10000)')
    p.add_argument('--batch-size', type=positive_int_arg(), default=64,
                   help='images per forward pass')
    p.add_argument('--data-dir', default=None, help="Fashion-MNIST IDX files (default: the run's, "
                                                    "else the usual places)")
    p.add_argument('--json', action='store_true', help='print JSON instead of the table')
    add_precision_args(p)
    return p


def _scales(args, config, default_scales):
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
    from .data.fashion_mnist import test_split
    from .inference.multiscale import (accuracy_table, default_scales, evaluate_views, format_rows,
                                       to_fully_convolutional)
    from .inference.precision import for_inference
    cmd = prog('testtime')
    try:
        (net, config, _), ctx = open_run(args)
        scales = _scales(args, config, default_scales)
        images, labels = test_split(args.data_dir or config.data_dir, args.test_samples)
        fcn = to_fully_convolutional(net, ctx)   # from the fp32 layers, before they are fused
        net, fcn = (for_inference(network, config, ctx, args.precision, args.calib_images,
                                  args.data_dir, precision_root(args), kind=kind,
                                  log=notice(cmd))
                    for network, kind in ((net, 'classifier'), (fcn, 'dense')))
    except VGGGluonError as err:
        return report(cmd, err)
    results = evaluate_views(net, images, config.resize, scales,
                             crop_grid=args.crop_grid, batch_size=args.batch_size,
                             average=args.average, ctx=ctx, fcn=fcn)
    rows = accuracy_table(results, labels, config.resize, scales, args.crop_grid)
    if args.json:
        print(json.dumps({'run_dir': args.run_dir, 'model': args.model, 'train_size': config.resize,
                          'test_samples': len(labels), 'average': args.average,
                          'crop_grid': args.crop_grid, 'rows': rows}, indent=1))
    else:
        print(format_rows(rows, config, len(labels)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
