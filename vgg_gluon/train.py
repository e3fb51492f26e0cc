"""``python -m vgg_gluon.train``: train VGG on Fashion-MNIST with the book's loop.

    python -m vgg_gluon.train --ratio 4 --resize 96        # seed 000's recipe
    python -m vgg_gluon.train --resume runs/20261123-0930  # go on after a stop
    python -m vgg_gluon.train --recipe d2l-en --epochs 2   # a recipe by name, one flag overridden

Flow: parse flags -> Config -> validate -> data -> model -> train_ch5 ->
config.json, metrics.jsonl, model.params and a checkpoint after every epoch in the
run directory (checkpoint.py; --resume continues from it). Bad input exits with
status 2 and one line on stderr; nothing is written before the input has
been checked, and an existing run directory is never overwritten.
"""
import argparse
import contextlib
import json
import os
import random
import sys
import time

from . import _threads
from .arch import ARCH_NAMES
from .config import KVSTORES, Config, ConfigError, parse_gpus
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


def _pair_arg(allowed):
    def parse(text):
        try:
            first, second = (int(v) for v in text.split(','))
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed} (two integers), got {text!r}") from None
        return [first, second]
    return parse


def build_parser():
    d = Config()
    p = _Parser(prog=PROG, description=__doc__.split('\n')[0],
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--arch', default=d.arch,
                   help=f"{', '.join(ARCH_NAMES)} (paper's A, A-LRN, B, C, D, E; -bn: batch norm) "
                        f"or blocks as CONVSxCHANNELS,... (e.g. 1x64,1x128,2x256; 3x256:3-3-1 "
                        f"gives each conv's kernel size; suffix -lrn, -bn)")
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
    p.add_argument('--scale-jitter', type=_pair_arg('SMIN,SMAX'), default=None, metavar='SMIN,SMAX',
                   help='scale jittering: rescale each training image to a random side S in '
                        '[SMIN, SMAX], then crop a random --resize square (the paper: 256,512 for 224)')
    p.add_argument('--quiet', action='store_true', help='no progress bar or start-up lines')
    p.add_argument('--no-hybridize', dest='hybridize', action='store_false',
                   help='run imperatively (slower; for debugging)')
    p.add_argument('--resume', metavar='RUN_DIR', default=None,
                   help='continue RUN_DIR from its last complete epoch with its own settings; '
                        'only --epochs, --lr, --data-dir, --gpus, --quiet may change')
    p.add_argument('--dropout', type=_float_arg('a number in [0, 1)'), default=d.dropout,
                   help='dropout rate after the dense layers (0: off)')
    p.add_argument('--kvstore', choices=KVSTORES, default=d.kvstore,
                   help='Gluon kvstore; dist_* need python -m vgg_gluon.launch')
    p.add_argument('--horovod', action='store_true',
                   help='all-reduce with Horovod (run under horovodrun)')
    p.add_argument('--amp', action='store_true',
                   help='train in float16 with MXNet AMP (GPU only; about 2x on tensor cores)')
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
    args.pop('resume', None)  # resume.prepare handles --resume
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


def check_amp(config, ctx):
    """``--amp`` needs a GPU: MXNet AMP's float16 kernels are GPU kernels."""
    if config.amp and any(c.device_type != 'gpu' for c in (ctx if isinstance(ctx, list) else [ctx])):
        raise ConfigError('--amp', "float16 training needs a GPU, but this run is on the CPU; "
                          "drop --amp or pass --gpus 0 on a machine with a GPU")


def build_model(config, ctx, workers=None):
    """(net, trainer) as ``run`` trains them: initialised on ``ctx``, hybridized,
    with AMP when ``config.amp``; ``workers`` (distributed.Workers) picks the
    kvstore: by default 'device', which on several GPUs keeps one copy of the
    parameters each and sums the gradients on the GPUs, not the CPU.
    """
    from mxnet import init
    from .checkpoint import build_net
    from .distributed import Workers
    workers = workers or Workers()
    check_amp(config, ctx)
    if config.amp:
        from mxnet.contrib import amp
        amp.init()  # before the network is built: it patches the operators to float16
    net = build_net(config)
    net.initialize(init.Xavier(), ctx=ctx)
    if config.hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
    workers.prepare(net, ctx, config.seed, (1, config.resize, config.resize))
    # A list, not the dict: Trainer sorts a dict by parameter name, and names
    # carry process-wide counters (dense10 < dense9), so the optimizer states'
    # order would depend on what the process built before. The network's own
    # order is the same in every process, which a resumed checkpoint needs.
    trainer = workers.trainer(list(net.collect_params().values()), config.optimizer, config.lr)
    if config.amp:
        amp.init_trainer(trainer)  # dynamic loss scaling; train_ch5 sees it and scales
    return net, trainer


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


def run(config, resume=None):
    """Train as ``config`` says; returns (history, run directory).

    resume: a ``resume.Resume`` (from ``resume.prepare``) to go on from its
    last checkpoint. A checkpoint is written after every epoch; nothing is
    written before the inputs (and a resumed checkpoint) have been checked.
    Interrupted and TrainingDiverged leave with ``run_dir`` and
    ``epochs_done`` set on them (for the hint).
    """
    from .data import load_data_fashion_mnist
    from .checkpoint import CheckpointWriter, atomic_write_text, restore, seed_epoch
    from .distributed import setup_workers
    from .interrupt import Interrupted, deferred
    from .loop import TrainingDiverged, train_ch5

    workers = setup_workers(config)  # a single process, or one of several (--kvstore dist_*, --horovod)
    # The one condition for output: only rank 0 prints, writes logs, metrics and checkpoints.
    writes = workers.rank == 0
    out = resume.run_dir if resume else (check_run_dir(config.out) if writes else config.out)
    ctx = workers.local_ctx(select_ctx(config.gpus))
    check_amp(config, ctx)  # before anything is loaded or written
    say = (lambda *a: None) if config.quiet or not writes else print
    seed_everything(config.seed)
    if config.scale_jitter:
        from .jitter import load_data_jittered
        train_iter, test_iter = load_data_jittered(
            config.batch_size, config.resize, *config.scale_jitter, root=config.data_dir,
            train_samples=config.train_samples, test_samples=config.test_samples, seed=config.seed)
    else:
        train_iter, test_iter = load_data_fashion_mnist(
            config.batch_size, resize=config.resize, root=config.data_dir,
            train_samples=config.train_samples, test_samples=config.test_samples, seed=config.seed)
    workers.shard(train_iter, test_iter, config.batch_size)
    net, trainer = build_model(config, ctx, workers)
    history, resumes = [], []
    if resume and resume.manifest:
        restore(out, resume.manifest, net, trainer, config, ctx)
        trainer.set_learning_rate(config.lr)  # the saved optimizer brings its own
        history, resumes = resume.manifest['metrics'], resume.manifest['resumes']
    if resume:
        resumes = resumes + [{'at_epoch': resume.epochs_done, 'changes': resume.changes}]
    elif writes:
        os.makedirs(out, exist_ok=True)
        config.out = out
        atomic_write_text(os.path.join(out, 'config.json'), json.dumps(config.to_dict(), indent=2))
    writer = CheckpointWriter(out, config, history, resumes) if writes else None
    epochs_done = history[-1]['epoch'] if history else 0
    say(f"{config.arch}/{config.ratio}, resize {config.resize}: {config.epochs} epochs, "
        f"{config.optimizer} lr {config.lr:g}, batch {config.batch_size}, seed {config.seed}; "
        f"{train_iter.num_samples} train / {test_iter.num_samples} test images; "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; run directory {out}"
        + (f"; {workers.describe()}" if workers.distributed else ''))
    if resume:
        say(f"resuming after epoch {epochs_done}" +
            ''.join(f"; {k} {a!r} -> {b!r}" for k, (a, b) in resume.changes.items()))

    def on_epoch_start(epoch):
        # Epoch k's shuffle order and dropout masks depend on (seed, k) only,
        # so a resumed epoch is the epoch the uninterrupted run would have had;
        # each worker keeps its own dropout stream (seed + rank).
        train_iter.set_epoch(epoch)
        seed_epoch(config.seed + workers.rank, epoch)

    def on_epoch_end(record):
        if writer is not None:
            with deferred():  # Ctrl-C waits until the checkpoint is whole
                writer.save(net, trainer, record)

    # the book's lines come from train_ch5's print: other ranks' go nowhere
    try:
        with contextlib.redirect_stdout(sys.stdout if writes else open(os.devnull, 'w')):
            history = train_ch5(net, train_iter, test_iter, config.batch_size, trainer, ctx,
                                config.epochs, start_epoch=epochs_done,
                                on_epoch_start=on_epoch_start, on_epoch_end=on_epoch_end,
                                progress=_progress_bar(config.quiet or not writes),
                                allreduce=workers.allreduce)
    except (Interrupted, TrainingDiverged) as err:
        err.run_dir, err.epochs_done = out, (writer.epoch if writer else epochs_done)
        raise
    return (writer.history if writer else history), out


def main(argv=None):
    """Entry point; returns the exit status (2: bad input, 1: diverged,
    130/143: stopped by Ctrl-C/SIGTERM, resumable)."""
    from .checkpoint import CheckpointError
    from .interrupt import Interrupted, stop_on_signals
    from .loop import TrainingDiverged
    try:
        with stop_on_signals():
            if build_parser().parse_args(argv).resume is None:
                config, resume = parse_config(argv), None
                if config.extra.get('recipe') and not config.quiet:
                    print(describe(RECIPES[config.extra['recipe']]))
                    if config.extra['overrides']:
                        print('  overridden by flags:', ', '.join(
                            f"{k}={getattr(config, k)}" for k in config.extra['overrides']))
            else:
                from .resume import prepare
                config, resume = prepare(argv)
                if resume.epochs_done >= config.epochs:
                    print(f"{resume.run_dir} has finished all {config.epochs} epochs; "
                          f"give --epochs N (more) to train further")
                    return 0
            run(config, resume)
    except ConfigError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except CheckpointError as err:
        print(f"{PROG}: error: {err.flag}: {err}", file=sys.stderr)
        return 2
    except Interrupted as err:
        where = getattr(err, 'run_dir', None)
        if where is None:
            print(f"\n{PROG}: {err} before training began; nothing to resume", file=sys.stderr)
        else:
            print(f"\n{PROG}: {err}; {_saved(err.epochs_done)} in {where}; continue with: "
                  f"{PROG} --resume {where}", file=sys.stderr)
        return err.exit_status
    except DataError as err:
        print(f"{PROG}: error: {err.flag}: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        hint = ''
        if getattr(err, 'epochs_done', 0):
            hint = (f"; {_saved(err.epochs_done)} in {err.run_dir}, untouched; go on from there "
                    f"with a lower rate: {PROG} --resume {err.run_dir} --lr LR")
        print(f"{PROG}: stopped: {err}{hint}", file=sys.stderr)
        return 1
    return 0


def _saved(epochs_done):
    if not epochs_done:
        return "no epoch has finished yet"
    return "epoch 1 is saved" if epochs_done == 1 else f"epochs 1-{epochs_done} are saved"


if __name__ == '__main__':
    sys.exit(main())
