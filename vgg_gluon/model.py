"""The VGG network of the book, as Gluon HybridBlocks.

``net`` is one flat ``HybridSequential``: the conv blocks, then
Dense-Dropout-Dense-Dropout-Dense, so ``for blk in net`` prints the book's
per-block shapes. ``net[:len(conv_arch)]`` is the feature extractor.
"""
from mxnet.gluon import nn

from .arch import VGG11, check_ratio


def vgg_block(num_convs, num_channels):
    """``num_convs`` 3x3 convolutions (padding 1, ReLU), then 2x2 max-pooling.

    (batch, c, h, w) -> (batch, num_channels, h // 2, w // 2)
    """
    blk = nn.HybridSequential()
    for _ in range(num_convs):
        blk.add(nn.Conv2D(num_channels, kernel_size=3, padding=1, activation='relu'))
    blk.add(nn.MaxPool2D(pool_size=2, strides=2))
    return blk


def vgg(conv_arch=VGG11, ratio=1, scale_dense=False, num_classes=10,
        dense_units=4096, dropout=0.5):
    """VGG from ``conv_arch``: the conv blocks, then three dense layers.

    ratio:       divides every block's channels (the book's ``small_conv_arch``).
    scale_dense: also divide the 4096-unit dense layers by ``ratio`` (seed 002).
    Input (batch, channels, h, w) with h, w >= 2 ** len(conv_arch);
    output (batch, num_classes) logits.
    """
    check_ratio(conv_arch, ratio)
    units = dense_units // ratio if scale_dense else dense_units
    net = nn.HybridSequential()
    for num_convs, num_channels in conv_arch:
        net.add(vgg_block(num_convs, num_channels // ratio))
    net.add(nn.Dense(units, activation='relu'), nn.Dropout(dropout),
            nn.Dense(units, activation='relu'), nn.Dropout(dropout),
            nn.Dense(num_classes))
    return net
