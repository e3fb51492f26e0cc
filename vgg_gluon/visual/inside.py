"""One look inside a network for one image: the answer, each block's maps, the fields.

``look`` is what one request of the page computes (``benchmarks/bench_demo.py``
times it): the prediction, every block's output and strongest maps, and the
theoretical and effective receptive fields of one unit.
"""
import numpy as np
from PIL import Image, ImageDraw

from ..data.fashion_mnist import TEXT_LABELS
from ..inference.images import predict_probabilities, to_batch, top_k
from ..models.layer_table import layer_table
from .activations import block_outputs, grid, strongest, to_uint8
from .fields import effective_field, theoretical_box

VIEW = 8          # screen pixels per network-input pixel in the drawn images
MAPS_SHOWN = 8    # strongest feature maps shown per block


def blocks_of(net, config):
    """The layer table's block lines of a network at its input size."""
    return layer_table(net, (1, 1, config.resize, config.resize))['blocks']


def answer(net, config, image, ctx, k=3):
    """{'top_k': [{'label', 'probability'}], 'probabilities': {label: p}} of one (28, 28) image."""
    X = to_batch(image[None], config.resize)
    row = predict_probabilities(net, X, ctx)[0]
    return {'top_k': [{'label': label, 'probability': round(p, 6)} for label, p in top_k(row, k)],
            'probabilities': {label: float(p) for label, p in zip(TEXT_LABELS, row)}}


def block_views(net, config, image, ctx):
    """[{'block', 'shape' (c, h, w), 'grid' uint8 image, 'mean' (h, w)}] per block."""
    X = to_batch(image[None], config.resize).as_in_context(ctx)
    views = []
    for b, maps in enumerate(block_outputs(net, X), start=1):
        maps = maps[0]
        chosen = strongest(maps, MAPS_SHOWN)
        scale = max(1, 64 // maps.shape[1])
        views.append({'block': b, 'shape': list(maps.shape),
                      'grid': grid(maps[chosen], columns=4, scale=scale),
                      'mean': maps.mean(axis=0)})
    return views


def input_view(net, config, image):
    """The network's input (size x size, from the 28x28 image) enlarged VIEW times, RGB."""
    X = to_batch(image[None], config.resize).asnumpy()[0, 0]
    big = np.kron(np.rint(X * 255).astype(np.uint8), np.ones((VIEW, VIEW), np.uint8))
    return np.stack([big] * 3, axis=-1)


def draw_field(view, box, colour=(255, 0, 0)):
    """``view`` (RGB, VIEW px per input pixel) with ``box`` outlined; the outline's outer
    edge covers exactly the box's pixels (box.width * VIEW screen pixels wide)."""
    img = Image.fromarray(view)
    ImageDraw.Draw(img).rectangle(
        [box.left * VIEW, box.top * VIEW, box.right * VIEW - 1, box.bottom * VIEW - 1],
        outline=colour, width=2)
    return np.asarray(img)


def heat(field):
    """An effective field (size, size) -> an RGB heat map enlarged VIEW times."""
    value = to_uint8(field ** 0.5)       # square root: the tails visible beside the peak
    big = np.kron(value, np.ones((VIEW, VIEW), np.uint8))
    return np.stack([big, (big.astype(np.int32) * 3 // 5).astype(np.uint8),
                     255 - big], axis=-1)


def fields(net, config, image, ctx, block, row, col, blocks=None):
    """(theoretical Box, effective field (size, size)) of the unit (row, col) of ``block``."""
    blocks = blocks or blocks_of(net, config)
    X = to_batch(image[None], config.resize).as_in_context(ctx)
    box = theoretical_box(blocks[block - 1], row, col, config.resize)
    return box, effective_field(net, X, block, row, col)


def look(net, config, image, ctx, block=1, row=0, col=0, blocks=None):
    """Everything one request shows: answer, block views, input view with the field, heat map."""
    box, erf = fields(net, config, image, ctx, block, row, col, blocks)
    return {'answer': answer(net, config, image, ctx), 'blocks': block_views(net, config, image, ctx),
            'input': draw_field(input_view(net, config, image), box), 'box': box,
            'effective': heat(erf)}
