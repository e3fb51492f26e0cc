"""The VGG network of the book, as Gluon HybridBlocks.

``net`` is one flat ``HybridSequential``: the conv blocks, then
Dense-Dropout-Dense-Dropout-Dense, so ``for blk in net`` prints the book's
per-block shapes. ``features_and_head(net)`` splits it into the two parts.

    net = vgg(VGG11, ratio=4)              # the book's small_conv_arch
    net = vgg_from_spec('vgg16-bn', ratio=4)
    net = build_net(config)                # what a Config (or a run directory) describes

``registry.get_model`` builds any of these, or AlexNet, by name.
"""
import math

from mxnet.gluon import nn

from .architectures import VGG11, check_ratio, parse_spec
from .layers import LocalResponseNorm


def vgg_block(num_convs, num_channels, kernel_sizes=None, batch_norm=False, lrn=False):
    """``num_convs`` 3x3 convolutions (padding 1, ReLU), then 2x2 max-pooling.

    (batch, c, h, w) -> (batch, num_channels, h // 2, w // 2)
    kernel_sizes: one odd size per convolution (configuration C's 1x1), padding
    k // 2 keeps h and w. batch_norm: Conv-BatchNorm-ReLU (the ``-bn`` variants;
    the conv keeps its bias, as the model zoos do). lrn: local response
    normalisation after the first convolution's ReLU (A-LRN, as in AlexNet).
    """
    blk = nn.HybridSequential()
    for i in range(num_convs):
        k = 3 if kernel_sizes is None else kernel_sizes[i]
        if batch_norm:
            blk.add(nn.Conv2D(num_channels, kernel_size=k, padding=k // 2),
                    nn.BatchNorm(), nn.Activation('relu'))
        else:
            blk.add(nn.Conv2D(num_channels, kernel_size=k, padding=k // 2, activation='relu'))
        if lrn and i == 0:
            blk.add(LocalResponseNorm())
    blk.add(nn.MaxPool2D(pool_size=2, strides=2))
    return blk


def vgg(conv_arch=VGG11, ratio=1, scale_dense=False, num_classes=10,
        dense_units=4096, dropout=0.5, kernel_sizes=None, batch_norm=False, lrn=False):
    """VGG from ``conv_arch``: the conv blocks, then three dense layers.

    ratio:       divides every block's channels (the book's ``small_conv_arch``).
    scale_dense: also divide the 4096-unit dense layers by ``ratio`` (seed 002).
    kernel_sizes, batch_norm, lrn: the rest of an ``arch.ArchSpec`` (per-block
    kernel sizes; BatchNorm after every conv; LRN after the very first conv).
    Input (batch, channels, h, w) with h, w >= 2 ** len(conv_arch);
    output (batch, num_classes) logits.
    """
    check_ratio(conv_arch, ratio)
    units = dense_units // ratio if scale_dense else dense_units
    net = nn.HybridSequential()
    for i, (num_convs, num_channels) in enumerate(conv_arch):
        net.add(vgg_block(num_convs, num_channels // ratio,
                          kernel_sizes=None if kernel_sizes is None else kernel_sizes[i],
                          batch_norm=batch_norm, lrn=lrn and i == 0))
    net.add(nn.Dense(units, activation='relu'), nn.Dropout(dropout),
            nn.Dense(units, activation='relu'), nn.Dropout(dropout),
            nn.Dense(num_classes))
    return net


def vgg_from_spec(arch, ratio=1, scale_dense=False, num_classes=10, **kwargs):
    """The network of any configuration: a name (``'vgg16-c-bn'``), a custom
    string, an ``ArchSpec`` or a book-style conv_arch tuple. Other keywords go
    to ``vgg`` (dense_units, dropout)."""
    spec = parse_spec(arch) if isinstance(arch, str) else arch
    if not hasattr(spec, 'conv_arch'):
        return vgg(tuple(arch), ratio=ratio, scale_dense=scale_dense,
                   num_classes=num_classes, **kwargs)
    return vgg(spec.conv_arch, ratio=ratio, scale_dense=scale_dense, num_classes=num_classes,
               kernel_sizes=spec.kernel_sizes, batch_norm=spec.batch_norm, lrn=spec.lrn,
               **kwargs)


def build_net(config):
    """The (uninitialised) network a ``Config`` describes."""
    return vgg_from_spec(config.arch, ratio=config.ratio, scale_dense=config.scale_dense,
                         dropout=config.dropout)


def features_and_head(net):
    """(conv blocks, head layers) of a flat VGG ``net`` from ``vgg``.

    The blocks are the leading ``HybridSequential`` children (the feature
    extractor); the head is every layer after them: Dense and Dropout.
    """
    children = list(net)
    num_blocks = 0
    while num_blocks < len(children) and isinstance(children[num_blocks], nn.HybridSequential):
        num_blocks += 1
    head = children[num_blocks:]
    if not num_blocks or not any(isinstance(layer, nn.Dense) for layer in head):
        raise ValueError('expected conv blocks followed by dense layers (model.vgg)')
    return children[:num_blocks], head


def dense_as_conv_kernel(in_units, channels):
    """The side k of the square k x k convolution that a Dense layer taking
    ``in_units`` = channels * k * k inputs computes on a (channels, k, k) map.

    Dense flattens in (c, h, w) order, so its weight (units, in_units) is the
    convolution's (units, channels, k, k). ValueError if the inputs are not
    such a map.
    """
    k = int(round(math.sqrt(in_units / channels)))
    if channels * k * k != in_units:
        raise ValueError(f"a dense layer of {in_units} inputs does not take a "
                         f"{channels}-channel square map")
    return k
