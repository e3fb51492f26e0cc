"""Feature maps block by block, and the first convolution's filters.

A flat VGG ``net`` (``models.vgg``) is its conv blocks, then the dense head;
``block_outputs`` runs the blocks one by one and keeps each one's output, so
that a student sees each halve height and width while doubling channels.
"""
import numpy as np
from mxnet.gluon import nn

from ..models.vgg import features_and_head


def block_outputs(net, X):
    """[(1, c, h, w) NumPy array per conv block] of one input X (1, 1, size, size)."""
    blocks, _ = features_and_head(net)
    outputs = []
    Y = X
    for blk in blocks:
        Y = blk(Y)
        outputs.append(Y.asnumpy())
    return outputs


def strongest(maps, n):
    """Indices of the ``n`` channels of (c, h, w) ``maps`` with the largest mean, strongest first."""
    return list(np.argsort(-maps.reshape(maps.shape[0], -1).mean(axis=1), kind='stable')[:n])


def to_uint8(array):
    """Any 2-D array -> uint8 scaled from its min (0) to its max (255); a constant one -> 0."""
    low, high = float(array.min()), float(array.max())
    if high <= low:
        return np.zeros(array.shape, dtype=np.uint8)
    return np.rint((array - low) / (high - low) * 255).astype(np.uint8)


def grid(images, columns, scale=1, gap=1):
    """(n, h, w) arrays -> one (rows*(h*scale+gap)-gap, ...) uint8 grid, each scaled to 0..255
    on its own and enlarged ``scale`` times (nearest), white gaps between them."""
    n, h, w = images.shape
    rows = -(-n // columns)
    cell_h, cell_w = h * scale, w * scale
    out = np.full((rows * (cell_h + gap) - gap, columns * (cell_w + gap) - gap), 255, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        big = np.kron(to_uint8(image), np.ones((scale, scale), dtype=np.uint8))
        out[r * (cell_h + gap):r * (cell_h + gap) + cell_h,
            c * (cell_w + gap):c * (cell_w + gap) + cell_w] = big
    return out


def first_filters(net):
    """The first convolution's weights as (channels, k, k) NumPy (its one input channel)."""
    blocks, _ = features_and_head(net)
    conv = next(layer for layer in blocks[0] if isinstance(layer, nn.Conv2D))
    return conv.weight.data().asnumpy()[:, 0]
