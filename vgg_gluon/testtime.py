"""``python -m vgg_gluon.testtime RUN_DIR``: the paper's test-time evaluations.

    python -m vgg_gluon.testtime runs/20261123-101500 --test-samples 1000

Simonyan & Zisserman, sec. 3.2 and 4.2-4.3, for a network trained on S-pixel
images (the run's ``--resize``), each test image rescaled to a side Q:

* single-scale: the network as trained, on the whole image at Q = S.
* dense: the dense layers become convolutions (the first a k x k conv over the
  last feature map, the others 1 x 1), so the network runs on the whole
  Q x Q image at once and gives a map of class scores, one per position; the
  map is averaged into one score vector. At Q = S the map is 1 x 1 and dense
  equals single-scale.
* multi-crop: a G x G grid of S x S crops of the Q x Q image, each through the
  network as trained; their posteriors are averaged.
* + flip: the horizontally flipped image too, posteriors averaged.
* multi-scale: posteriors averaged over several Q (the paper: Q in
  {S_min, (S_min + S_max) / 2, S_max} after scale jittering).

How scores are averaged: every view (position of the dense map, crop, flip,
scale) gives softmax posteriors, and those are averaged, as the paper does for
flips, crops and scales. Averaging probabilities is averaging an ensemble's
votes: one confident, wrong position cannot outweigh the rest the way one
huge logit can when logits are averaged (which is a geometric mean of the
probabilities). ``--average logits`` averages the dense map's logits instead.
"""
import argparse
import json
import math
import os
import sys

from . import _threads  # noqa: F401  (before mxnet)

PROG = 'python -m vgg_gluon.testtime'


# --- the library ----------------------------------------------------------------

def split_vgg(net):
    """(feature blocks, dense layers) of a flat VGG ``net`` from ``model.vgg``."""
    from mxnet.gluon import nn
    children = list(net)
    num_blocks = 0
    while num_blocks < len(children) and isinstance(children[num_blocks], nn.HybridSequential):
        num_blocks += 1
    dense = [c for c in children[num_blocks:] if isinstance(c, nn.Dense)]
    if not num_blocks or not dense:
        raise ValueError('expected conv blocks followed by dense layers (model.vgg)')
    return children[:num_blocks], dense


def to_fully_convolutional(net, ctx=None):
    """The dense-evaluation network of an initialised VGG ``net``.

    The conv blocks are shared (same parameters); each Dense becomes a Conv2D
    holding a copy of its weights: the first a k x k convolution over the last
    (c, k, k) feature map, weight (units, c * k * k) reshaped to (units, c, k, k)
    (Dense flattens in (c, h, w) order), the others 1 x 1. Dropout is dropped
    (it is the identity at test time).
    (batch, channels, Q, Q) -> (batch, classes, m, m) class-score map, with
    m = Q // 2**blocks - k + 1; at the training size m = 1.
    """
    import mxnet as mx
    from mxnet.gluon import nn
    blocks, dense = split_vgg(net)
    convs = [layer for layer in blocks[-1] if isinstance(layer, nn.Conv2D)]
    channels = convs[-1].weight.shape[0]
    ctx = ctx or dense[0].weight.list_ctx()[0]
    fcn = nn.HybridSequential()
    fcn.add(*blocks)
    for i, layer in enumerate(dense):
        weight = layer.weight.data(ctx)
        units, in_units = weight.shape
        k = int(round(math.sqrt(in_units / channels))) if i == 0 else 1
        if channels * k * k != in_units:
            raise ValueError(f"dense layer {i + 1} takes {in_units} inputs, not a "
                             f"{channels}-channel square map")
        act = layer.act._act_type if layer.act is not None else None
        conv = nn.Conv2D(units, kernel_size=k, in_channels=channels, activation=act,
                         use_bias=layer.bias is not None)
        conv.initialize(mx.init.Zero(), ctx=ctx)
        conv.weight.set_data(weight.reshape((units, channels, k, k)))
        if layer.bias is not None:
            conv.bias.set_data(layer.bias.data(ctx))
        fcn.add(conv)
        channels = units
    return fcn


def dense_scores(fcn, X, average='softmax'):
    """(batch, classes) posteriors of the dense network ``fcn`` on X (batch, c, Q, Q).

    average='softmax': mean over positions of each position's softmax;
    'logits': softmax of the mean logits.
    """
    score_map = fcn(X)
    if average == 'softmax':
        return score_map.softmax(axis=1).mean(axis=(2, 3))
    if average == 'logits':
        return score_map.mean(axis=(2, 3)).softmax(axis=1)
    raise ValueError(f"average must be 'softmax' or 'logits', got {average!r}")


def crop_offsets(size, crop, grid):
    """``grid`` evenly spaced offsets of a ``crop`` window in ``size`` pixels
    (grid 1: the centre); corners included."""
    if grid == 1:
        return [(size - crop) // 2]
    return [round(i * (size - crop) / (grid - 1)) for i in range(grid)]


def crops(X, crop, grid):
    """The grid x grid crops of X (batch, c, Q, Q), each (batch, c, crop, crop)."""
    offsets = crop_offsets(X.shape[2], crop, grid)
    return [X[:, :, top:top + crop, left:left + crop] for top in offsets for left in offsets]


def flipped(X):
    """X mirrored left to right (the width axis)."""
    return X.flip(axis=3)


def evaluate_views(net, images, train_size, scales, crop_grid=3, batch_size=64,
                   average='softmax', ctx=None):
    """Posteriors of every test-time view, for each image.

    images: (n, h, w) uint8 originals; scales: test sides Q (each >= train_size).
    Returns {'single': [no flip, flip], ('dense', Q): [...], ('crops', Q): [...]},
    each entry an (n, classes) numpy array of averaged posteriors.
    """
    import mxnet as mx
    import numpy as np
    from .data import resize_images
    ctx = ctx or mx.cpu()
    fcn = to_fully_convolutional(net, ctx)
    fcn.hybridize()

    def run(images_q, views):
        out = [[], []]
        for start in range(0, len(images_q), batch_size):
            X = mx.nd.array(images_q[start:start + batch_size, None], ctx=ctx,
                            dtype='uint8').astype('float32') / 255
            for f, X_view in enumerate((X, flipped(X))):
                out[f].append(views(X_view).asnumpy())
        return [np.concatenate(o) for o in out]

    results = {'single': run(resize_images(images, train_size),
                             lambda X: net(X).softmax(axis=1))}
    for q in scales:
        images_q = resize_images(images, q)
        results[('dense', q)] = run(images_q, lambda X: dense_scores(fcn, X, average))
        results[('crops', q)] = run(
            images_q, lambda X: sum(net(c).softmax(axis=1) for c in crops(X, train_size, crop_grid))
            / crop_grid ** 2)
    return results


def accuracy_table(results, labels, train_size, scales, crop_grid):
    """Rows {method, scales, views (per image, without flips), accuracy, flip_accuracy}."""

    def acc(probs):
        return float((probs.argmax(axis=1) == labels).mean())

    def row(method, qs, views, pairs):
        plain = sum(p[0] for p in pairs) / len(pairs)
        both = sum(p[0] + p[1] for p in pairs) / (2 * len(pairs))
        return {'method': method, 'scales': list(qs), 'views': views,
                'accuracy': acc(plain), 'flip_accuracy': acc(both)}

    rows = [row('single-scale', [train_size], 1, [results['single']])]
    for q in scales:
        rows.append(row('dense', [q], 1, [results[('dense', q)]]))
    if len(scales) > 1:
        rows.append(row('dense', scales, len(scales), [results[('dense', q)] for q in scales]))
    for q in scales:
        rows.append(row('multi-crop', [q], crop_grid ** 2, [results[('crops', q)]]))
    if len(scales) > 1:
        rows.append(row('multi-crop', scales, crop_grid ** 2 * len(scales),
                        [results[('crops', q)] for q in scales]))
    both = [results[(m, q)] for m in ('dense', 'crops') for q in scales]
    rows.append(row('dense+crops', scales, (crop_grid ** 2 + 1) * len(scales), both))
    return rows


def default_scales(config):
    """Test sides Q: {S_min, mid, S_max} after scale jittering (the paper's),
    else {S, 1.25 S, 1.5 S} (Q below S leaves no room for S-pixel crops)."""
    if config.scale_jitter:
        s_min, s_max = config.scale_jitter
        return sorted({s_min, (s_min + s_max) // 2, s_max})
    s = config.resize
    return sorted({s, round(1.25 * s), round(1.5 * s)})


# --- the command line -------------------------------------------------------------

def build_parser():
    from .train import _Parser, _int_arg
    p = _Parser(prog=PROG, description=__doc__.split('\n')[0],
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('run_dir', metavar='RUN_DIR',
                   help='a run directory of python -m vgg_gluon.train (config.json, model.params)')
    p.add_argument('--scales', default=None,
                   help='test sides Q, comma-separated, each >= the training --resize '
                        '(default: S_min,mid,S_max after --scale-jitter, else S,1.25S,1.5S)')
    p.add_argument('--crop-grid', type=_int_arg('a positive integer'), default=3,
                   help='multi-crop: a GxG grid of crops per scale (the paper: 5)')
    p.add_argument('--average', choices=('softmax', 'logits'), default='softmax',
                   help="dense evaluation: average the score map's posteriors or its logits")
    p.add_argument('--test-samples', type=_int_arg('a positive integer'), default=None,
                   help='evaluate the first N test images only (quick runs)')
    p.add_argument('--batch-size', type=_int_arg('a positive integer'), default=64)
    p.add_argument('--data-dir', default=None, help='Fashion-MNIST IDX files (default: search)')
    p.add_argument('--gpus', default='auto', help='auto (gpu 0 if present), cpu, or an id like 0')
    p.add_argument('--json', action='store_true', help='print JSON instead of the table')
    return p


def _check_args(args):
    """Validated (config, scales); ConfigError naming the flag otherwise."""
    from .checkpoint import load_config
    from .config import ConfigError
    for name in ('config.json', 'model.params'):
        if not os.path.isfile(os.path.join(args.run_dir, name)):
            raise ConfigError('RUN_DIR', f"{args.run_dir} has no {name}: give a run directory "
                                         f"written by python -m vgg_gluon.train")
    try:
        config = load_config(args.run_dir).validate()
    except (ValueError, TypeError) as err:
        raise ConfigError('RUN_DIR', f"{args.run_dir}/config.json cannot be used ({err})") from None
    if args.scales is None:
        scales = default_scales(config)
    else:
        try:
            scales = sorted({int(v) for v in args.scales.split(',')})
        except ValueError:
            scales = []
        if not scales or scales[0] < config.resize or scales[-1] > 8 * config.resize:
            raise ConfigError('--scales', f"must be integers from {config.resize} (the training "
                                          f"--resize) to {8 * config.resize}, comma-separated; "
                                          f"got {args.scales!r}")
    for flag, value in (('--crop-grid', args.crop_grid), ('--batch-size', args.batch_size),
                        ('--test-samples', args.test_samples)):
        if value is not None and value < 1:
            raise ConfigError(flag, f"must be a positive integer, got {value}")
    return config, scales


def format_rows(rows, config, n):
    jitter = (f", scale jitter {config.scale_jitter[0]}-{config.scale_jitter[1]}"
              if config.scale_jitter else '')
    lines = [f"{config.arch}/{config.ratio} trained at S = {config.resize} px{jitter}; "
             f"{n} test images; posteriors averaged over views",
             f"{'method':<13} {'scales Q':<16} {'views':>5} {'accuracy':>9} {'+ flip':>7}"]
    for r in rows:
        qs = ','.join(map(str, r['scales']))
        lines.append(f"{r['method']:<13} {qs:<16} {r['views']:>5} "
                     f"{r['accuracy']:>9.4f} {r['flip_accuracy']:>7.4f}")
    return '\n'.join(lines)


def main(argv=None):
    """Print the accuracies; 0, or 2 on bad input (one line on stderr)."""
    from .config import ConfigError
    from .data import DataError
    args = build_parser().parse_args(argv)
    try:
        config, scales = _check_args(args)
        from .checkpoint import load_model
        from .data import load_data_fashion_mnist
        from .train import select_ctx
        ctx = select_ctx(args.gpus)
        ctx = ctx[0] if isinstance(ctx, list) else ctx
        _, test_iter = load_data_fashion_mnist(args.batch_size, root=args.data_dir,
                                               test_samples=args.test_samples)
        try:
            net, config = load_model(args.run_dir, ctx=ctx)
        except Exception as err:  # MXNetError, AssertionError: a params file of another net
            raise ConfigError('RUN_DIR', f"{args.run_dir}/model.params does not fit its "
                                         f"config.json ({str(err).splitlines()[0]})") from None
    except (ConfigError, DataError) as err:
        from ._cli import fail
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
