"""VGG configurations as data.

A ``conv_arch`` is a tuple of ``(num_convs, num_channels)`` pairs, one per
block, exactly as in the book. Every block halves height and width, so five
blocks need an input of at least 32 pixels.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

from ..errors import ArchError

# The paper's configurations A, B, D and E (Simonyan & Zisserman, Table 1).
ARCHS = {
    'vgg11': ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),
    'vgg13': ((2, 64), (2, 128), (2, 256), (2, 512), (2, 512)),
    'vgg16': ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),
    'vgg19': ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),
}
VGG11 = ARCHS['vgg11']


def parse_arch(text):
    """A name from ``ARCHS``/``FAMILY`` or a custom string ``'1x64,1x128,2x256'``.

    Returns the conv_arch tuple (``parse_spec`` gives the whole configuration);
    raises ArchError listing the valid names.
    """
    return parse_spec(text).conv_arch


def scale_arch(conv_arch, ratio):
    """The book's ``small_conv_arch``: every channel count divided by ``ratio``."""
    check_ratio(conv_arch, ratio)
    return tuple((num_convs, num_channels // ratio) for num_convs, num_channels in conv_arch)


def check_ratio(conv_arch, ratio):
    """``ratio`` must be a positive integer no larger than the smallest channel count."""
    smallest = min(num_channels for _, num_channels in conv_arch)
    if not isinstance(ratio, int) or isinstance(ratio, bool) or not 1 <= ratio <= smallest:
        raise ArchError(f"ratio must be an integer from 1 to {smallest} "
                        f"(the smallest channel count), got {ratio!r}", flag='ratio')


def min_input_size(conv_arch):
    """Smallest height/width that survives every 2x2 stride-2 pooling."""
    return 2 ** len(conv_arch)


# --- The whole family (Simonyan & Zisserman, Table 1) -------------------------
# A ``conv_arch`` above says how many convolutions each block has and how wide
# they are; the paper's six configurations also differ in what the book's
# format cannot say: C's last convolution in blocks 3-5 is 1x1, A-LRN has local
# response normalisation after its first convolution. An ArchSpec carries those
# as data beside the unchanged conv_arch, so every existing ``(num_convs,
# num_channels)`` loop keeps working.

@dataclass(frozen=True)
class ArchSpec:
    """One VGG configuration.

    conv_arch:    the book's ``((num_convs, num_channels), ...)``.
    kernel_sizes: per block, one odd kernel size per convolution; None: all 3x3.
    lrn:          local response normalisation after the first convolution (A-LRN).
    batch_norm:   BatchNorm after every convolution, before its ReLU (``-bn``).
    """
    conv_arch: Tuple[Tuple[int, int], ...]
    kernel_sizes: Optional[Tuple[Tuple[int, ...], ...]] = None
    lrn: bool = False
    batch_norm: bool = False

    def kernels(self):
        """Kernel sizes per block, 3 wherever none is given."""
        if self.kernel_sizes is None:
            return tuple((3,) * num_convs for num_convs, _ in self.conv_arch)
        return self.kernel_sizes

    def num_weight_layers(self):
        """Convolutions plus the three dense layers: the 11 of VGG-11."""
        return sum(num_convs for num_convs, _ in self.conv_arch) + 3


_C_KERNELS = ((3, 3), (3, 3), (3, 3, 1), (3, 3, 1), (3, 3, 1))

# The paper's configurations by name; the letter is the paper's column in Table 1.
FAMILY = {
    'vgg11': ArchSpec(ARCHS['vgg11']),                       # A
    'vgg11-lrn': ArchSpec(ARCHS['vgg11'], lrn=True),         # A-LRN
    'vgg13': ArchSpec(ARCHS['vgg13']),                       # B
    'vgg16-c': ArchSpec(ARCHS['vgg16'], kernel_sizes=_C_KERNELS),  # C
    'vgg16': ArchSpec(ARCHS['vgg16']),                       # D
    'vgg19': ArchSpec(ARCHS['vgg19']),                       # E
}
PAPER_LETTERS = {'vgg11': 'A', 'vgg11-lrn': 'A-LRN', 'vgg13': 'B', 'vgg16-c': 'C',
                 'vgg16': 'D', 'vgg19': 'E'}
BN_SUFFIX, LRN_SUFFIX = '-bn', '-lrn'
ARCH_NAMES = tuple(FAMILY) + tuple(name + BN_SUFFIX for name in FAMILY)


def _arch_error(text, why=''):
    return ArchError(f"unknown architecture {text!r}{why}: choose one of "
                     f"{', '.join(ARCH_NAMES)} or give blocks as 'CONVSxCHANNELS,...' "
                     f"(e.g. 1x64,1x128,2x256; a block '3x256:3-3-1' sets each conv's "
                     f"kernel size; suffix -lrn and/or -bn)")


def parse_spec(text):
    """A name (``vgg16-c``, ``vgg11-lrn-bn``, ...) or custom string -> ArchSpec.

    Custom strings are the book's blocks, ``'1x64,1x128,2x256'``, where a block
    may list its kernel sizes (odd) after a colon, ``'3x256:3-3-1'``, and the
    string may end in ``-lrn`` (LRN after the first conv) and/or ``-bn``.
    """
    if not isinstance(text, str):
        raise _arch_error(text)
    base, batch_norm, lrn = text, False, False
    if base.endswith(BN_SUFFIX):
        base, batch_norm = base[:-len(BN_SUFFIX)], True
    if base in FAMILY:
        spec = FAMILY[base]
        return ArchSpec(spec.conv_arch, spec.kernel_sizes, spec.lrn, batch_norm)
    if base.endswith(LRN_SUFFIX):
        base, lrn = base[:-len(LRN_SUFFIX)], True
        if base in FAMILY:  # e.g. vgg13-lrn: LRN on any configuration
            spec = FAMILY[base]
            return ArchSpec(spec.conv_arch, spec.kernel_sizes, True, batch_norm)
    conv_arch, kernel_sizes = [], []
    for item in base.split(','):
        head, _, kernels = item.partition(':')
        try:
            pair = tuple(int(v) for v in head.split('x'))
            sizes = tuple(int(v) for v in kernels.split('-')) if kernels else None
        except ValueError:
            raise _arch_error(text) from None
        if len(pair) != 2 or pair[0] < 1 or pair[1] < 1:
            raise _arch_error(text)
        if sizes is not None and (len(sizes) != pair[0] or any(k < 1 or k % 2 == 0 for k in sizes)):
            raise _arch_error(text, f" (block {item!r} needs {pair[0]} odd kernel size(s))")
        conv_arch.append(pair)
        kernel_sizes.append(sizes or (3,) * pair[0])
    kernel_sizes = tuple(kernel_sizes)
    if all(k == 3 for sizes in kernel_sizes for k in sizes):
        kernel_sizes = None
    return ArchSpec(tuple(conv_arch), kernel_sizes, lrn, batch_norm)


def format_spec(spec):
    """The custom string that ``parse_spec`` reads back into ``spec``."""
    blocks = []
    for (num_convs, num_channels), sizes in zip(spec.conv_arch, spec.kernels()):
        block = f'{num_convs}x{num_channels}'
        if any(k != 3 for k in sizes):
            block += ':' + '-'.join(str(k) for k in sizes)
        blocks.append(block)
    return (','.join(blocks) + (LRN_SUFFIX if spec.lrn else '')
            + (BN_SUFFIX if spec.batch_norm else ''))
