"""VGG configurations as data.

A ``conv_arch`` is a tuple of ``(num_convs, num_channels)`` pairs, one per
block, exactly as in the book. Every block halves height and width, so five
blocks need an input of at least 32 pixels.
"""

# The paper's configurations A, B, D and E (Simonyan & Zisserman, Table 1).
ARCHS = {
    'vgg11': ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),
    'vgg13': ((2, 64), (2, 128), (2, 256), (2, 512), (2, 512)),
    'vgg16': ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),
    'vgg19': ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),
}
VGG11 = ARCHS['vgg11']


class ArchError(ValueError):
    """An architecture name, string or ratio that cannot be built."""


def parse_arch(text):
    """A name from ``ARCHS`` or a custom string ``'1x64,1x128,2x256'``.

    Returns the conv_arch tuple; raises ArchError listing the valid names.
    """
    if text in ARCHS:
        return ARCHS[text]
    try:
        pairs = tuple(tuple(int(v) for v in item.split('x')) for item in text.split(','))
    except ValueError:
        pairs = ()
    if not pairs or any(len(p) != 2 or p[0] < 1 or p[1] < 1 for p in pairs):
        raise ArchError(f"unknown architecture {text!r}: choose one of "
                        f"{', '.join(ARCHS)} or give blocks as 'CONVSxCHANNELS,...' "
                        f"(e.g. 1x64,1x128,2x256)")
    return pairs


def scale_arch(conv_arch, ratio):
    """The book's ``small_conv_arch``: every channel count divided by ``ratio``."""
    check_ratio(conv_arch, ratio)
    return tuple((num_convs, num_channels // ratio) for num_convs, num_channels in conv_arch)


def check_ratio(conv_arch, ratio):
    """``ratio`` must be a positive integer no larger than the smallest channel count."""
    smallest = min(num_channels for _, num_channels in conv_arch)
    if not isinstance(ratio, int) or isinstance(ratio, bool) or not 1 <= ratio <= smallest:
        raise ArchError(f"ratio must be an integer from 1 to {smallest} "
                        f"(the smallest channel count), got {ratio!r}")


def min_input_size(conv_arch):
    """Smallest height/width that survives every 2x2 stride-2 pooling."""
    return 2 ** len(conv_arch)
