"""What every command shares: its parser, the flag types and the one reporter.

``Parser`` is argparse with Python tools' conventions: a usage error is one
line and exit status 2, no abbreviated flags (``--epoch`` is never taken for
``--epochs``), and each flag's default shown once in ``--help``. ``report``
turns every ``errors.VGGGluonError`` into its one line and exit status, so
that a command catches that one class. Nothing here imports MXNet at import
time: ``--help`` must not wait for it.
"""
import argparse
import os
import sys

from ..errors import Error

# settings that commands take as positional arguments, spelled as their usage shows them
POSITIONAL = {'run_dir': 'RUN_DIR', 'images': 'IMAGE'}
# how the commands were started: 'python -m vgg_gluon.train' or 'vgg-gluon train'
_invocation = {'prefix': 'python -m vgg_gluon.'}


def invoked_as(prefix):
    """Name the commands 'PREFIX<command>' in their usage lines ('vgg-gluon ')."""
    _invocation['prefix'] = prefix


def prog(command):
    """'python -m vgg_gluon.train', or 'vgg-gluon train' under the console script."""
    return _invocation['prefix'] + command


def doc_summary(doc):
    """A command's description from its docstring's first line, without the
    reST markup: '``python -m vgg_gluon.train``: train VGG' -> 'Train VGG'."""
    line = doc.strip().split('\n')[0]
    if line.startswith('``') and '``: ' in line:
        line = line.split('``: ', 1)[1]
    line = line.replace('``', '')
    return line[:1].upper() + line[1:]


def doc_body(doc):
    """The rest of a command's docstring (its examples and notes), without reST markup."""
    parts = doc.strip().split('\n', 1)
    return parts[1].strip('\n').replace('``', '') if len(parts) > 1 else None


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Each flag's default once, after its help, unless the help already says it
    or there is none to show (None, a switch's False/True, a suppressed one)."""

    def _get_help_string(self, action):
        text = action.help or ''
        default = action.default
        if ('default' in text or default is None or default is argparse.SUPPRESS
                or isinstance(default, bool) or action.nargs == 0):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit 2, and
    abbreviations of long flags are refused."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault('allow_abbrev', False)
        kwargs.setdefault('formatter_class', HelpFormatter)
        super().__init__(*args, **kwargs)
        from .. import __version__
        self.add_argument('--version', action='version', version=f'vgg_gluon {__version__}',
                          help="print vgg_gluon's version and exit")

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _typed(convert, allowed, what=''):
    def parse(text):
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed}{what}, got {text!r}") from None
    return parse


def int_arg(allowed):
    """An argparse type: an integer; the message says what is ``allowed``."""
    return _typed(int, allowed)


def positive_int_arg():
    """An argparse type: an integer >= 1."""
    def positive(text):
        value = int(text)
        if value < 1:
            raise ValueError(text)
        return value
    return _typed(positive, 'a positive integer')


def float_arg(allowed):
    """An argparse type: a number; the message says what is ``allowed``."""
    return _typed(float, allowed)


def pair_arg(allowed):
    """An argparse type: 'A,B' -> [A, B], two integers."""
    def pair(text):
        first, second = (int(v) for v in text.split(','))
        return [first, second]
    return _typed(pair, allowed, ' (two integers)')


def int_list_arg(allowed):
    """An argparse type: 'A,B,...' -> [A, B, ...], integers."""
    return _typed(lambda text: [int(v) for v in text.split(',')], allowed, ' (integers)')


def spell(flag):
    """A setting's name as the command line spells it: 'batch_size' -> '--batch-size'."""
    return POSITIONAL.get(flag) or '--' + flag.replace('_', '-')


def fail(prog_name, err):
    """Print one line on stderr for bad input (an ``Error``, or a message); return 2."""
    if isinstance(err, Error) and err.flag:
        print(f"{prog_name}: error: {spell(err.flag)}: {err}", file=sys.stderr)
    else:
        print(f"{prog_name}: error: {err}", file=sys.stderr)
    return 2


def report(prog_name, err):
    """The one line for any ``VGGGluonError`` on stderr; return its exit status.

    Bad input names its flag (``fail``); a command that knows more about a
    fault (what is saved, how to go on) says it before calling this."""
    if isinstance(err, Error):
        return fail(prog_name, err)
    print(f"{prog_name}: error: {err}", file=sys.stderr)
    return err.exit_status


def explicit_settings(build_parser, argv):
    """{dest: value} of the flags given in ``argv``, without any default.

    build_parser(defaults=False) must build the command's parser with every
    default ``argparse.SUPPRESS``, so that only given flags appear.
    """
    return vars(build_parser(defaults=False).parse_args(argv))


def arch_help():
    """The --arch help: every name the registry builds, and the block syntax."""
    from ..models.registry import list_models
    return (f"{', '.join(list_models())} (paper's A, A-LRN, B, C, D, E; -bn: batch norm; "
            f"alexnet: the book's, to compare with) or blocks as CONVSxCHANNELS,... "
            f"(e.g. 1x64,1x128,2x256; 3x256:3-3-1 gives each conv's kernel size; suffix "
            f"-lrn, -bn)")


def run_dir_parser(command, description, epilog=None):
    """A parser with RUN_DIR or --model NAME (exactly one) and the guards every
    run-directory command accepts (evaluate, predict, export, testtime, demo)."""
    p = Parser(prog=prog(command), description=description, epilog=epilog)
    p.add_argument('run_dir', metavar='RUN_DIR', nargs='?', default=None,
                   help='a directory written by train (or give --model)')
    p.add_argument('--model', default=None, metavar='NAME',
                   help='a model shipped inside the package instead of RUN_DIR '
                        '(vgg-gluon evaluate --model fast)')
    p.add_argument('--arch', default=None,
                   help='refuse the run unless its network is this architecture: ' + arch_help())
    p.add_argument('--ratio', type=positive_int_arg(), default=None,
                   help='refuse the run unless its network has this ratio')
    p.add_argument('--gpus', default='auto', help="auto (gpu 0 if present), cpu, or an id like 0")
    p.add_argument('--epoch', choices=('last', 'best'), default='last',
                   help='the parameters of the last epoch, or of the one with the best '
                        'test accuracy')
    return p


def add_precision_args(p, also=''):
    """--precision and --calib-images (evaluate, predict, testtime, demo); ``also``
    ends the --precision help."""
    p.add_argument('--precision', choices=('fp32', 'int8'), default='fp32',
                   help="fp32: oneDNN's fused graph (convolution, BatchNorm and ReLU as one "
                        "operator); int8: MXNet's post-training quantization, CPU only, "
                        "calibrated on training images and cached in RUN_DIR/quantized "
                        "(a shipped model's in --out/quantized where the command has --out, "
                        "else runs/NAME-int8/quantized)" + also)
    # 60000: the training split (inference.precision.TRAIN_IMAGES checks it for the library)
    p.add_argument('--calib-images', type=bounded_int_arg(1, 60000), default=None,
                   help='int8: how many training images calibrate it (1 to 60000; '
                        'default: 512)')


def bounded_int_arg(low, high):
    """An argparse type: an integer from ``low`` to ``high``."""
    def bounded(text):
        value = int(text)
        if not low <= value <= high:
            raise ValueError(text)
        return value
    return _typed(bounded, f'an integer from {low} to {high}')


def precision_root(args):
    """Where an int8 network is cached: the run directory, or for a shipped model
    --out (if the command has it) or runs/NAME-int8, never the installed package."""
    if args.model is None:
        return args.run_dir
    return getattr(args, 'out', None) or os.path.join('runs', f'{args.model}-int8')


def notice(prog_name):
    """A printer of one-line notes on stderr ('PROG: LINE'), for the library's ``log``."""
    return lambda line: print(f"{prog_name}: {line}", file=sys.stderr)


def open_run(args):
    """LoadedRun(net, config, epoch) and the device: the run's network, checked
    against --arch/--ratio, on the first device --gpus names (the CPU for
    --precision int8, which refuses a GPU)."""
    from ..checkpoint.reader import load_model
    from ..checkpoint.zoo import load_shipped
    from ..models.registry import check_name
    from ..runtime.devices import check_quantization, select_ctx
    check_source(args)
    if args.arch is not None:
        check_name(args.arch)
    ctx = select_ctx(check_quantization(getattr(args, 'precision', 'fp32'), args.gpus))[0]
    if args.model is not None:
        if args.epoch != 'last':
            raise Error("a shipped model has one set of parameters: no --epoch best",
                        flag='epoch')
        return load_shipped(args.model, ctx=ctx, arch=args.arch, ratio=args.ratio), ctx
    loaded = load_model(args.run_dir, ctx=ctx, arch=args.arch, ratio=args.ratio,
                        epoch=args.epoch)
    return loaded, ctx


def check_source(args, default_model=None):
    """Exactly one of RUN_DIR and --model (or ``default_model`` when neither is given)."""
    if args.run_dir is not None and args.model is not None:
        raise Error("give RUN_DIR or --model NAME, not both", flag='model')
    if args.run_dir is None and args.model is None:
        if default_model is None:
            raise Error("give a run directory, or --model NAME for a shipped model",
                        flag='run_dir')
        args.model = default_model


def default_out(args, what):
    """Where a command writes when --out is not given: inside the run directory,
    or runs/NAME-WHAT for a shipped model (never into the installed package)."""
    if args.model is None:
        return args.run_dir if what is None else os.path.join(args.run_dir, what)
    return os.path.join('runs', f"{args.model}-{what or 'evaluate'}")


def source_name(args):
    """How outputs name the model: the run directory, or 'shipped model NAME'."""
    return args.run_dir if args.model is None else f"shipped model {args.model}"
