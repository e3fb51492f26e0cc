"""A VGG network's layer table (``python -m vgg_gluon.summary`` prints it).

One row per layer and a line per block: output shape, parameters,
multiply-accumulates and receptive field; totals at the bottom. Shapes and
parameter counts come from MXNet's own symbolic shape inference on the built
network, so nothing is allocated: VGG-19's 144 million parameters cost no memory.

Receptive field (seed 001's formula, applied layer by layer; "A guide to
receptive field arithmetic", Dang Ha The Hien 2017). A layer with kernel k,
stride s and padding p maps (size r, jump j, start) to

    j_out = j * s
    r_out = r + (k - 1) * j
    start_out = start + ((k - 1) / 2 - p) * j

where j is the distance in input pixels between neighbouring units, r the
side of the input window one unit sees, and start the centre of the first
(top-left) unit's window, in pixels, the input's first pixel centred at 0.5.
The input itself is (1, 1, 0.5). The first dense layer is a k x k convolution
over the whole last feature map (as in dense evaluation), the others 1 x 1.
Sizes are not clipped at the image border: a field larger than the image
means units see all of it (and padding).
"""
from dataclasses import dataclass

import mxnet as mx
from mxnet.gluon import nn

from ..runtime import mxnet_internals as internals
from .layers import LocalResponseNorm
from .architectures import BN_SUFFIX, FAMILY, PAPER_LETTERS
from .registry import get_model
from .vgg import dense_as_conv_kernel, features_and_head, vgg_from_spec


@dataclass
class Field:
    """A unit's receptive field: side ``size``, ``jump`` between units, ``start`` centre."""
    size: int = 1
    jump: int = 1
    start: float = 0.5

    def through(self, kernel, stride=1, pad=0):
        """The field after a layer with this kernel, stride and padding."""
        return Field(self.size + (kernel - 1) * self.jump, self.jump * stride,
                     self.start + ((kernel - 1) / 2 - pad) * self.jump)


def receptive_field(layers, field=None):
    """Field after ``layers``, a sequence of (kernel, stride, pad) tuples.

    >>> receptive_field([(3, 1, 1)] * 3).size    # three stacked 3x3 convs see 7x7
    7
    """
    field = field or Field()
    for kernel, stride, pad in layers:
        field = field.through(kernel, stride, pad)
    return field


def _geometry(layer, in_shape):
    """(kernel, stride, pad) of a layer as seen by the receptive field."""
    if isinstance(layer, (nn.Conv2D, nn.MaxPool2D, nn.AvgPool2D)):
        return internals.conv_geometry(layer)
    if isinstance(layer, nn.Dense) and len(in_shape) == 4:
        # the first dense layer: a k x k conv over the whole (c, k, k) map
        return dense_as_conv_kernel(_prod(in_shape[1:]), in_shape[1]), 1, 0
    return 1, 1, 0  # elementwise, per-channel, or a 1x1 dense layer


def _type(layer):
    """The paper's Table 1 notation: conv3-64, maxpool, FC-4096, LRN, ..."""
    if isinstance(layer, nn.Conv2D):
        act = '+relu' if layer.act is not None else ''
        kernel = internals.conv_geometry(layer)[0]
        return f"conv{kernel}-{internals.conv_channels(layer)}{act}"
    if isinstance(layer, nn.Dense):
        act = '+relu' if layer.act is not None else ''
        return f'FC-{internals.dense_units(layer)}{act}'
    if isinstance(layer, nn.MaxPool2D):
        return 'maxpool'
    if isinstance(layer, nn.BatchNorm):
        return 'batchnorm'
    if isinstance(layer, nn.Activation):
        return internals.activation_type(layer)
    if isinstance(layer, LocalResponseNorm):
        return 'LRN'
    if isinstance(layer, nn.Dropout):
        return f"dropout-{internals.dropout_rate(layer):g}"
    return type(layer).__name__


def _infer(layer, in_shape):
    """MXNet's shape inference for one layer: (output shape, parameters, trainable)."""
    out = layer(mx.sym.var('data'))
    arg_shapes, out_shapes, aux_shapes = out.infer_shape(data=in_shape)
    trainable = sum(_prod(shape) for name, shape in zip(out.list_arguments(), arg_shapes)
                    if name != 'data')
    return tuple(out_shapes[0]), trainable + sum(_prod(s) for s in aux_shapes), trainable


def _prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _macs(layer, in_shape, out_shape):
    """Multiply-accumulates of one image through a conv or dense layer (0 elsewhere).

    The one count of vgg_gluon (``flops`` sums these rows): a k x k convolution
    from c_in to c_out channels onto an h x w map does h * w * c_out * c_in * k * k
    (divided by its groups); a dense layer n_in * n_out.
    """
    if isinstance(layer, nn.Conv2D):
        kernel = internals.conv_geometry(layer)[0]
        return _prod(out_shape[1:]) * in_shape[1] * kernel * kernel // internals.conv_groups(layer)
    if isinstance(layer, nn.Dense):
        return _prod(in_shape[1:]) * out_shape[1]
    return 0


def layer_table(net, input_shape):
    """Rows for every layer of a flat VGG ``net`` on (1, c, h, w) ``input_shape``.

    Returns {'layers': [...], 'blocks': [...], 'totals': {...}}; each layer row
    has block (1-based, 0 for the dense head), name, type, output_shape (c, h, w
    or units), params (MXNet's count: BatchNorm's running mean and variance
    included), trainable, macs, rf, jump, start.
    """
    shape, field = tuple(input_shape), Field()
    layers, blocks = [], []
    num_fc = num_dropout = 0
    conv_blocks, head = features_and_head(net)
    for b, child in enumerate(conv_blocks + head, start=1):
        is_block = b <= len(conv_blocks)
        members = list(child) if is_block else [child]
        first = len(layers)
        conv_i = 0
        for layer in members:
            out_shape, params, trainable = _infer(layer, shape)
            field = field.through(*_geometry(layer, shape))
            if isinstance(layer, nn.Conv2D):
                conv_i += 1
                name = f'conv{b}_{conv_i}'
            elif isinstance(layer, nn.MaxPool2D):
                name = f'pool{b}'
            elif isinstance(layer, nn.Dense):
                num_fc += 1
                name = f'fc{num_fc}'
            elif isinstance(layer, nn.Dropout):
                num_dropout += 1
                name = f'dropout{num_dropout}'
            else:
                name = f'{_type(layer).lower()}{b}_{conv_i}' if is_block else _type(layer).lower()
            layers.append({'block': b if is_block else 0, 'name': name, 'type': _type(layer),
                           'output_shape': list(out_shape[1:]), 'params': params,
                           'trainable': trainable, 'macs': _macs(layer, shape, out_shape),
                           'rf': field.size, 'jump': field.jump, 'start': field.start})
            shape = out_shape
        if is_block:
            blocks.append(_block_row(b, layers[first:], shape, field))
    return {'input_shape': list(input_shape[1:]), 'layers': layers, 'blocks': blocks,
            'totals': _totals(layers, shape, num_fc)}


def _block_row(b, rows, shape, field):
    """The line of block ``b`` from its layers' rows."""
    convs = [r for r in rows if r['type'].startswith('conv')]
    return {'block': b, 'convs': len(convs),
            'channels': convs[-1]['output_shape'][0] if convs else None,
            'output_shape': list(shape[1:]),
            'params': sum(r['params'] for r in rows),
            'macs': sum(r['macs'] for r in rows),
            'rf': field.size, 'jump': field.jump, 'start': field.start}


def _totals(layers, shape, num_fc):
    convs = [r for r in layers if r['type'].startswith('conv')]
    return {'params': sum(r['params'] for r in layers),
            'trainable': sum(r['trainable'] for r in layers),
            'macs': sum(r['macs'] for r in layers),
            'conv_macs': sum(r['macs'] for r in convs),
            'weight_layers': len(convs) + num_fc,
            'last_conv_rf': convs[-1]['rf'] if convs else None,
            'output_shape': list(shape[1:])}


def summarize(arch='vgg11', ratio=4, resize=96, in_channels=1, classes=10, scale_dense=False,
              dropout=0.5):
    """The layer table of a configuration (name, custom string or ArchSpec;
    ``'alexnet'`` for the book's AlexNet)."""
    build = get_model if isinstance(arch, str) else vgg_from_spec
    net = build(arch, ratio=ratio, scale_dense=scale_dense, num_classes=classes, dropout=dropout)
    table = layer_table(net, (1, in_channels, resize, resize))
    table.update(arch=arch if isinstance(arch, str) else str(arch), ratio=ratio,
                 scale_dense=scale_dense, classes=classes)
    return table


def family_table(resize=224, in_channels=3, classes=1000, ratio=1, batch_norm=False):
    """One row per paper configuration (A, A-LRN, B, C, D, E): the paper's Table 2
    plus compute and receptive field. params in units, macs per image."""
    rows = []
    for name in FAMILY:
        arch = name + (BN_SUFFIX if batch_norm else '')
        t = summarize(arch, ratio, resize, in_channels, classes)['totals']
        rows.append({'arch': arch, 'config': PAPER_LETTERS[name],
                     'weight_layers': t['weight_layers'], 'params': t['params'],
                     'trainable': t['trainable'], 'macs': t['macs'],
                     'last_conv_rf': t['last_conv_rf']})
    return rows


def format_table(table):
    """The layer table as text, one row per layer and one line per block."""
    head = f"{'layer':<12} {'type':<18} {'output':>14} {'params':>13} {'MACs':>15}" \
           f" {'RF':>5} {'jump':>5} {'start':>6}"
    lines = [f"{table['arch']}, ratio {table['ratio']}, input "
             f"{'x'.join(map(str, table['input_shape']))}, {table['classes']} classes", head,
             '-' * len(head)]

    def row(name, kind, shape, params, macs, rf, jump, start):
        return (f"{name:<12} {kind:<18} {'x'.join(map(str, shape)):>14} {params:>13,} "
                f"{macs:>15,} {rf:>5} {jump:>5} {start:>6g}")

    blocks = {b['block']: b for b in table['blocks']}
    for i, r in enumerate(table['layers']):
        lines.append(row(r['name'], r['type'], r['output_shape'], r['params'], r['macs'],
                         r['rf'], r['jump'], r['start']))
        nxt = table['layers'][i + 1]['block'] if i + 1 < len(table['layers']) else None
        if r['block'] and nxt != r['block']:
            b = blocks[r['block']]
            lines.append(row(f"block {b['block']}", f"{b['convs']} conv x {b['channels']}",
                             b['output_shape'], b['params'], b['macs'], b['rf'], b['jump'],
                             b['start']))
            lines.append('')
    t = table['totals']
    lines += ['-' * len(head),
              row('total', f"{t['weight_layers']} weight layers", t['output_shape'],
                  t['params'], t['macs'], table['layers'][-1]['rf'],
                  table['layers'][-1]['jump'], table['layers'][-1]['start']),
              f"parameters {t['params']:,} ({t['params'] / 1e6:.1f} M; trainable "
              f"{t['trainable']:,}), multiply-accumulates {t['macs']:,} per image "
              f"({t['macs'] / 1e9:.2f} G; convolutions {t['conv_macs'] / t['macs']:.1%}), "
              f"last conv's receptive field {t['last_conv_rf']} px"]
    if t['params'] != t['trainable']:
        lines.append('(parameters include BatchNorm running means and variances, as MXNet '
                     'counts them; trainable excludes them)')
    return '\n'.join(lines)
