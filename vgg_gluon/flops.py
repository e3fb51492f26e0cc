"""Multiply-accumulates of VGG, counted from the layer shapes.

Used by ``benchmarks/bench_train.py`` to turn images/s into GFLOP/s. Only
the convolutions and dense layers count (bias, ReLU, pooling and dropout are
under 1 % of the work); one multiply-accumulate is two floating-point
operations.
"""
from .arch import VGG11, check_ratio


def layer_macs(conv_arch=VGG11, ratio=1, resize=224, in_channels=1, scale_dense=False,
               num_classes=10, dense_units=4096):
    """[(name, forward MACs per image)] for every conv and dense layer, in order.

    A 3x3 convolution (padding 1) from c_in to c_out channels on an h x w map:
    h * w * c_out * c_in * 9. A dense layer from n_in to n_out: n_in * n_out.
    """
    check_ratio(conv_arch, ratio)
    layers, c_in, side = [], in_channels, resize
    for i, (num_convs, num_channels) in enumerate(conv_arch):
        c_out = num_channels // ratio
        for j in range(num_convs):
            layers.append((f'conv{i + 1}_{j + 1}', side * side * c_out * c_in * 9))
            c_in = c_out
        side //= 2
    units = dense_units // ratio if scale_dense else dense_units
    n_in = c_in * side * side
    for k, n_out in enumerate((units, units, num_classes)):
        layers.append((f'dense{k + 1}', n_in * n_out))
        n_in = n_out
    return layers


def forward_flops(**kwargs):
    """FLOPs of one image's forward pass (2 per MAC); kwargs as ``layer_macs``."""
    return 2 * sum(macs for _, macs in layer_macs(**kwargs))


def train_flops(**kwargs):
    """FLOPs of one image's training step: forward, weight and input gradients.

    Backward costs two forward passes (the gradient with respect to the
    weights and the one with respect to the layer's input), except that the
    first layer needs no gradient for the images: 3x forward minus that.
    """
    layers = layer_macs(**kwargs)
    total = sum(macs for _, macs in layers)
    return 2 * (3 * total - layers[0][1])
