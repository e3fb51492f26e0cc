"""``python -m vgg_gluon.train``: train VGG on Fashion-MNIST with the book's loop.

    python -m vgg_gluon.train --ratio 4 --resize 96        # seed 000's recipe
    python -m vgg_gluon.train --recipe d2l-en --epochs 2   # a recipe by name, one flag overridden

Flow: parse flags -> Config -> validate -> data -> model -> train_ch5 ->
config.json, metrics.jsonl and model.params in the run directory. Bad input exits with
status 2 and one line on stderr; nothing is written before the input has
been checked, and an existing run directory is never overwritten.
"""
import argparse
import json
import os
import random
import sys
import time

from . import _threads
from .arch import ARCHS
from .config import Config, ConfigError, parse_gpus
from .data import DataError
from .recipes import RECIPES, describe

PROG = 'python -m vgg_gluon.train'


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int_arg(allowed):
    def parse(text):
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
    return parse


def _float_arg(allowed):
    def parse(text):
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
    return parse


def build_parser():
    d = Config()
    p = _Parser(prog=PROG, description=__doc__.split('\n')[0],
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--arch', default=d.arch,
                   help=f"{', '.join(ARCHS)} or blocks as CONVSxCHANNELS,... (e.g. 1x64,1x128,2x256)")
    p.add_argument('--ratio', type=_int_arg('a positive integer'), default=d.ratio,
                   help='divide every conv channel count by this (the book uses 4)')
    p.add_argument('--scale-dense', action='store_true', help='also divide the dense width by --ratio')
    p.add_argument('--resize', type=_int_arg('an integer of at least 32'), default=d.resize,
                   help='input side in pixels (the book: 96 to fit memory, 224 in full)')
    p.add_argument('--epochs', type=_int_arg('a positive integer'), default=d.epochs)
    p.add_argument('--lr', type=_float_arg('a positive number'), default=d.lr, help='learning rate')
    p.add_argument('--batch-size', type=_int_arg('a positive integer'), default=d.batch_size)
    p.add_argument('--optimizer', choices=('sgd', 'adam'), default=d.optimizer)
    p.add_argument('--seed', type=_int_arg('an integer'), default=d.seed)
    p.add_argument('--gpus', default=d.gpus, help="auto (gpu 0 if present), cpu, or ids like 0,1")
    p.add_argument('--data-dir', default=d.data_dir,
                   help='Fashion-MNIST IDX files (default: $VGG_GLUON_DATA, ~/.mxnet/datasets/'
                        'fashion-mnist, /usr/share/datasets/fashion-mnist, else download)')
    p.add_argument('--out', default=d.out, help='run directory (default: runs/<date-time>)')
    p.add_argument('--train-samples', type=_int_arg('a positive integer'), default=None,
                   help='train on the first N images only (quick runs)')
    p.add_argument('--test-samples', type=_int_arg('a positive integer'), default=None,
                   help='evaluate on the first N test images only')
    p.add_argument('--quiet', action='store_true', help='no progress bar or start-up lines')
    p.add_argument('--no-hybridize', dest='hybridize', action='store_false',
                   help='run imperatively (slower; for debugging)')
    p.add_argument('--recipe', choices=tuple(RECIPES), default=None,
                   help='a seed system\'s recipe by name (flags given as well override it)')
    p.add_argument('--list-recipes', action=_ListRecipes, help='print the recipes and exit')
    return p


class _ListRecipes(argparse.Action):
    """--list-recipes: print every recipe with its source, exit 0 (like --version)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print('\n'.join(describe(r) for r in RECIPES.values()))
        parser.exit(0)


def _explicit_flags(argv):
    """The settings given on the command line, without argparse's defaults."""
    p = build_parser()
    for action in p._actions:  # not set_defaults: that would set them all on the namespace
        action.default = argparse.SUPPRESS
    return vars(p.parse_args(argv))


def parse_config(argv=None):
    """Flags -> validated Config (ConfigError on a value out of range)."""
    args = vars(build_parser().parse_args(argv))
    name = args.pop('recipe')
    if name is not None:  # the recipe over the defaults, explicit flags over the recipe
        explicit = _explicit_flags(argv)
        explicit.pop('recipe')
        args.update(RECIPES[name].settings, **explicit)
        args['extra'] = {'recipe': name,
                         'overrides': sorted(k for k in explicit if k in RECIPES[name].settings)}
    return Config(**args).validate()


def select_ctx(gpus):
    """'auto' -> gpu(0) if present else cpu(); 'cpu'; '0,1' -> [gpu(0), gpu(1)]."""
    import mxnet as mx
    ids = parse_gpus(gpus)
    available = mx.context.num_gpus()
    if ids is None:
        return mx.gpu(0) if available else mx.cpu()
    if not ids:
        return mx.cpu()
    if max(ids) >= available:
        raise ConfigError('--gpus', f"asked for GPU {max(ids)} but {available} GPU(s) are present")
    return mx.gpu(ids[0]) if len(ids) == 1 else [mx.gpu(i) for i in ids]


def seed_everything(seed):
    import numpy as np
    import mxnet as mx
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


def check_run_dir(out):
    """The run directory to write; an existing non-empty one is refused."""
    out = out or os.path.join('runs', time.strftime('%Y%m%d-%H%M%S'))
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise ConfigError('--out', f"{out} already exists and is not empty; "
                          f"choose a new run directory (nothing was overwritten)")
    return out


def _progress_bar(quiet):
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm
    return lambda batches, desc: tqdm(batches, desc=desc, total=len(batches),
                                      leave=False, file=sys.stderr, unit='batch')


def run(config):
    """Train as ``config`` says; returns (history, run directory)."""
    import mxnet as mx
    from mxnet import gluon, init
    from .data import load_data_fashion_mnist
    from .checkpoint import build_net
    from .loop import train_ch5

    out = check_run_dir(config.out)
    ctx = select_ctx(config.gpus)
    say = (lambda *a: None) if config.quiet else print
    seed_everything(config.seed)
    train_iter, test_iter = load_data_fashion_mnist(
        config.batch_size, resize=config.resize, root=config.data_dir,
        train_samples=config.train_samples, test_samples=config.test_samples, seed=config.seed)
    net = build_net(config)
    net.initialize(init.Xavier(), ctx=ctx)
    if config.hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
    trainer = gluon.Trainer(net.collect_params(), config.optimizer, {'learning_rate': config.lr})

    os.makedirs(out, exist_ok=True)
    config.out = out
    with open(os.path.join(out, 'config.json'), 'w') as f:
        json.dump(config.to_dict(), f, indent=2)
    say(f"{config.arch}/{config.ratio}, resize {config.resize}: {config.epochs} epochs, "
        f"{config.optimizer} lr {config.lr:g}, batch {config.batch_size}, seed {config.seed}; "
        f"{train_iter.num_samples} train / {test_iter.num_samples} test images; "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; run directory {out}")

    metrics = open(os.path.join(out, 'metrics.jsonl'), 'a')

    def on_epoch_end(record):
        metrics.write(json.dumps(record) + '\n')
        metrics.flush()

    with metrics:
        history = train_ch5(net, train_iter, test_iter, config.batch_size, trainer, ctx,
                            config.epochs, on_epoch_start=train_iter.set_epoch,
                            on_epoch_end=on_epoch_end,
                            progress=_progress_bar(config.quiet))
    net.save_parameters(os.path.join(out, 'model.params'))
    return history, out


def main(argv=None):
    """Entry point; returns the exit status (2: bad input, 1: diverged)."""
    from .loop import TrainingDiverged
    try:
        config = parse_config(argv)
        if config.extra.get('recipe') and not config.quiet:
            print(describe(RECIPES[config.extra['recipe']]))
            if config.extra['overrides']:
                print('  overridden by flags:', ', '.join(
                    f"{k}={getattr(config, k)}" for k in config.extra['overrides']))
        run(config)
    except ConfigError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except DataError as err:
        print(f"{PROG}: error: {err.flag}: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"{PROG}: stopped: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
