"""The book's AlexNet (d2l's chapter before VGG), to set beside VGG.

Built of stages that each end in a pooling, like VGG's blocks, so that the
layer table, the memory estimate and ``summary --arch alexnet`` read it.
"""
from mxnet.gluon import nn

from .architectures import check_ratio


# AlexNet as d2l's MXNet chapter builds it (d2l-en 7.1 / d2l-zh 5.6, for Fashion-MNIST:
# one input channel, 224 pixels, 10 classes; no local response normalisation):
# (channels, kernel, stride, padding) of each convolution, per stage; every
# stage ends in a 3x3 max-pooling with stride 2.
ALEXNET_STAGES = (((96, 11, 4, 0),),
                  ((256, 5, 1, 2),),
                  ((384, 3, 1, 1), (384, 3, 1, 1), (256, 3, 1, 1)))
# The smallest input the three poolings leave at least one pixel of:
# 67 -> conv 11/4: 15 -> pool: 7 -> pool: 3 -> pool: 1 (66 -> 14 -> 6 -> 2 -> 0).
ALEXNET_MIN_SIZE = 67


def alexnet(ratio=1, scale_dense=False, num_classes=10, dense_units=4096, dropout=0.5):
    """The book's AlexNet: the same layers in the same order as d2l's
    ``nn.Sequential``, with each pooling closing a stage (a ``HybridSequential``)
    as ``vgg`` closes its blocks, so the layer table, the memory estimate and
    ``features_and_head`` read both networks alike.

    (batch, 1, 224, 224) -> 96x54x54 -> pool 96x26x26 -> 256x26x26 -> pool
    256x12x12 -> 384, 384, 256 x12x12 -> pool 256x5x5 -> Dense 4096, Dropout,
    Dense 4096, Dropout, Dense num_classes. ratio divides every conv's channels
    (1 to 96), scale_dense the dense width too, as in ``vgg``.
    """
    check_ratio(tuple((1, conv[0]) for stage in ALEXNET_STAGES for conv in stage), ratio)
    net = nn.HybridSequential()
    for stage in ALEXNET_STAGES:
        blk = nn.HybridSequential()
        for channels, kernel, stride, pad in stage:
            blk.add(nn.Conv2D(channels // ratio, kernel_size=kernel, strides=stride,
                              padding=pad, activation='relu'))
        blk.add(nn.MaxPool2D(pool_size=3, strides=2))
        net.add(blk)
    units = dense_units // ratio if scale_dense else dense_units
    net.add(nn.Dense(units, activation='relu'), nn.Dropout(dropout),
            nn.Dense(units, activation='relu'), nn.Dropout(dropout),
            nn.Dense(num_classes))
    return net
