"""``python -m vgg_gluon.summary``: a VGG network's layer table, and the memory training it needs.

    python -m vgg_gluon.summary --arch vgg11 --ratio 4 --resize 96
    python -m vgg_gluon.summary --arch vgg16 --resize 224 --in-channels 3 --classes 1000
    python -m vgg_gluon.summary --ratio 4 --resize 96 --batch-size 128 --memory 8GiB
    python -m vgg_gluon.summary --arch alexnet        # the book's AlexNet, to compare

One row per layer and a line per block: output shape, parameters,
multiply-accumulates and receptive field; totals at the bottom
(``layer_table.py`` says how each is computed). With --batch-size (or
--memory) the training memory follows: parameters, gradients, optimizer
states, the activations kept for the backward pass per block, and the total
(``memory.py`` says what is counted); with --memory SIZE, whether it fits and
the largest batch that would.
"""
import json
import sys

from .cli.arguments import (Parser, arch_help, doc_body, doc_summary, float_arg, int_arg,
                            positive_int_arg, prog, report)
from .config import OPTIMIZERS, Config
from .errors import ConfigError, VGGGluonError


def build_parser():
    p = Parser(prog=prog('summary'), description=doc_summary(__doc__), epilog=doc_body(__doc__))
    p.add_argument('--arch', default='vgg11', help=arch_help())
    # Defaults: the book's first network, VGG-11 in full on one 224-pixel
    # Fashion-MNIST channel (d2lzh's 'X = nd.random.uniform(shape=(1, 1, 224, 224))').
    p.add_argument('--ratio', type=positive_int_arg(), default=1,
                   help='divide every conv channel count by this (the book trains with 4)')
    p.add_argument('--resize', type=int_arg('an integer of at least 32'), default=224,
                   help='input side in pixels')
    p.add_argument('--in-channels', type=positive_int_arg(), default=1,
                   help='input channels (1: Fashion-MNIST, 3: ImageNet)')
    p.add_argument('--classes', type=positive_int_arg(), default=10,
                   help='output classes (10: Fashion-MNIST, 1000: ImageNet)')
    p.add_argument('--scale-dense', action='store_true', help='also divide the dense width by --ratio')
    p.add_argument('--batch-size', type=positive_int_arg(), default=None,
                   help='estimate the training memory at this batch per device '
                        '(128 when only --memory is given)')
    p.add_argument('--optimizer', choices=OPTIMIZERS, default='sgd',
                   help='the optimizer whose states count (as train\'s --optimizer)')
    p.add_argument('--momentum', type=float_arg('a number in [0, 1)'), default=0.0,
                   help='SGD/NAG momentum (as train\'s --momentum): > 0 keeps one copy of the weights')
    p.add_argument('--memory', default=None, metavar='SIZE',
                   help='the memory to fit in, e.g. 8GiB, 512MiB, 16GB: says whether training '
                        'fits and the largest batch that would')
    p.add_argument('--json', action='store_true', help='print JSON instead of the table')
    return p


def _check(args):
    """ConfigError naming the flag for the first value out of range."""
    from .models.alexnet import ALEXNET_MIN_SIZE
    from .models.registry import check_name, get_model
    from .training.memory import parse_size
    check_name(args.arch)  # ArchError listing every name the registry builds
    # Config checks the VGG settings, the optimizer and momentum as train does
    config = Config(arch='vgg11' if args.arch == 'alexnet' else args.arch, ratio=args.ratio,
                    resize=args.resize, scale_dense=args.scale_dense,
                    optimizer=args.optimizer, momentum=args.momentum)
    if args.arch == 'alexnet':
        get_model('alexnet', ratio=args.ratio)  # ArchError (flag ratio) for a bad ratio
        if args.resize < ALEXNET_MIN_SIZE:
            raise ConfigError(f"must be an integer of at least {ALEXNET_MIN_SIZE} for alexnet "
                              f"(its three poolings), got {args.resize!r}", flag='resize')
        config.ratio = 1  # AlexNet's own ratio check is the one above
    config.validate()
    for flag in ('in_channels', 'classes', 'batch_size'):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ConfigError(f"must be a positive integer, got {value!r}", flag=flag)
    return None if args.memory is None else parse_size(args.memory, flag='memory')


def main(argv=None):
    """Print the table (and the memory estimate); 0, or 2 on bad input (one line on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        budget = _check(args)
    except VGGGluonError as err:
        return report(prog('summary'), err)
    from .models.layer_table import format_table, summarize
    from .training.memory import estimate, format_memory, with_budget
    table = summarize(args.arch, args.ratio, args.resize, args.in_channels, args.classes,
                      args.scale_dense)
    text = format_table(table)
    if args.batch_size is not None or budget is not None:
        memory = estimate(table, args.batch_size or 128, args.optimizer, args.momentum)
        table['memory'] = memory if budget is None else with_budget(memory, budget)
        text += '\n\n' + format_memory(table['memory'])
    print(json.dumps(table, indent=1) if args.json else text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
