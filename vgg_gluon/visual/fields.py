"""Receptive fields of one unit: the theoretical one and the effective one.

The theoretical field is the layer table's arithmetic (``models.layer_table``):
the unit at (row, col) of a block's output sees the input square of side
``rf`` centred on ``start + index * jump`` (input pixels, the first pixel's
centre at 0.5). Drawn on the image it is clipped to the image: a unit near the
border sees padding beyond it, which is not drawn.

The effective field (Luo et al. 2016, "Understanding the Effective Receptive
Field in Deep Convolutional Neural Networks") is the gradient of that unit
with respect to the input: here the sum over the block's channels at (row,
col), differentiated by ``mx.autograd`` with BatchNorm and Dropout in
inference mode. Its mass sits in a much smaller area than the theoretical square.
"""
from typing import NamedTuple

import mxnet as mx
import numpy as np

from ..runtime.mxnet_internals import batchnorm_running_stats
from ..models.vgg import features_and_head


class Box(NamedTuple):
    """A field in input pixels: rows top..bottom-1, columns left..right-1 (clipped)."""
    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self):
        return self.bottom - self.top

    @property
    def width(self):
        return self.right - self.left


def theoretical_box(block_row, row, col, size):
    """The Box the unit (row, col) of a block sees, clipped to a size x size input.

    block_row: the block's line of ``layer_table`` ({'rf', 'jump', 'start'}).
    """
    (top, bottom), (left, right) = (field_span(block_row, i) for i in (row, col))
    return Box(max(0, top), max(0, left), min(size, bottom), min(size, right))


def field_span(block_row, index):
    """(first, end) input pixels, unclipped, that unit ``index`` of a block sees along
    one axis: end - first is the layer table's ``rf``."""
    centre = block_row['start'] + index * block_row['jump']
    first = int(round(centre - block_row['rf'] / 2))
    return first, first + block_row['rf']


def effective_field(net, X, block, row, col):
    """|d (sum over channels of block ``block``'s output at (row, col)) / d X| as a
    (size, size) NumPy array, for X (1, 1, size, size); ``block`` is 1-based."""
    blocks, _ = features_and_head(net)
    X = X.copy()
    X.attach_grad()
    # training mode: oneDNN's max-pooling backward is only right there (mxnet_internals)
    with batchnorm_running_stats(blocks[:block]), mx.autograd.record(train_mode=True):
        Y = X
        for blk in blocks[:block]:
            Y = blk(Y)
    # the unit as a head gradient (ones at (row, col) in every channel), not a slice of Y
    head = np.zeros(Y.shape, dtype=Y.dtype)
    head[0, :, int(row), int(col)] = 1
    Y.backward(out_grad=mx.nd.array(head, ctx=Y.context))
    return np.abs(X.grad.asnumpy()[0, 0])


def mass_box(field, fraction=0.95):
    """The smallest centred-on-peak square holding ``fraction`` of a field's mass: its side."""
    total = field.sum()
    if total <= 0:
        return 0
    r, c = np.unravel_index(np.argmax(field), field.shape)
    for half in range(max(field.shape)):
        window = field[max(0, r - half):r + half + 1, max(0, c - half):c + half + 1]
        if window.sum() >= fraction * total:
            return 2 * half + 1
    return max(field.shape)


def mass_area(field, fraction=0.95):
    """How many pixels, the largest first, hold ``fraction`` of a field's mass (0 if it
    has none): comparable with the theoretical box's area, which always holds it all."""
    values = np.sort(field, axis=None)[::-1]
    total = values.sum()
    if total <= 0:
        return 0
    return int(np.searchsorted(np.cumsum(values), fraction * total * (1 - 1e-12)) + 1)
