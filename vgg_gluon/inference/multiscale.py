"""The paper's test-time evaluations (``python -m vgg_gluon.testtime`` runs them).

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
import numpy as np
import mxnet as mx
from mxnet.gluon import nn

from ..data.fashion_mnist import resize_images, to_tensor
from ..models.vgg import dense_as_conv_kernel, features_and_head
from ..runtime.mxnet_internals import activation_type


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
    blocks, head = features_and_head(net)
    dense = [layer for layer in head if isinstance(layer, nn.Dense)]  # dropout: identity here
    convs = [layer for layer in blocks[-1] if isinstance(layer, nn.Conv2D)]
    channels = convs[-1].weight.shape[0]
    ctx = ctx or dense[0].weight.list_ctx()[0]
    fcn = nn.HybridSequential()
    fcn.add(*blocks)
    for i, layer in enumerate(dense):
        weight = layer.weight.data(ctx)
        units, in_units = weight.shape
        k = dense_as_conv_kernel(in_units, channels) if i == 0 else 1
        act = activation_type(layer.act) if layer.act is not None else None
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
                   average='softmax', ctx=None, fcn=None):
    """Posteriors of every test-time view, for each image.

    images: (n, h, w) uint8 originals; scales: test sides Q (each >= train_size).
    fcn: the dense-evaluation network (default: ``to_fully_convolutional(net)``,
    hybridized); ``net`` and ``fcn`` may be fused or int8 (``precision.py``).
    Returns {'single': [no flip, flip], ('dense', Q): [...], ('crops', Q): [...]},
    each entry an (n, classes) numpy array of averaged posteriors.
    """
    ctx = ctx or mx.cpu()
    if fcn is None:
        fcn = to_fully_convolutional(net, ctx)
        fcn.hybridize()

    def run(images_q, views):
        out = [[], []]
        for start in range(0, len(images_q), batch_size):
            X = to_tensor(images_q[start:start + batch_size], ctx)
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
