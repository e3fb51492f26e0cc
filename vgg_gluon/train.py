"""``python -m vgg_gluon.train``: train VGG on Fashion-MNIST with the book's loop.

    python -m vgg_gluon.train --ratio 4 --resize 96        # seed 000's recipe
    python -m vgg_gluon.train --resume runs/20261123-0930  # go on after a stop
    python -m vgg_gluon.train --recipe d2l-en --epochs 2   # a recipe by name, one flag overridden

Flags -> Config (a recipe under the flags given) -> training.run, which writes
config.json, metrics.jsonl, model.params and a checkpoint after every epoch
into the run directory (--resume continues from it). Bad input exits with
status 2 and one line on stderr; nothing is written before the input has
been checked, and an existing run directory is never overwritten.
"""
import argparse
import os
import sys

from .cli.arguments import (Parser, arch_help, doc_body, doc_summary, explicit_settings, float_arg, int_arg,
                            int_list_arg, pair_arg, prog, report, spell)
from .config import (KVSTORES, MAX_BATCH, MAX_EPOCHS, OPTIMIZERS, RATE_MAX, RATE_MIN, SCHEDULES,
                     TTAS, Config)
from .data.augment import AUGMENTATIONS
from .errors import (ConfigError, Error, Interrupted, MXNetFailed, SaveFailed, TrainingDiverged,
                     VGGGluonError)
from .training.recipes import RECIPES, describe

class _NoDefaults:
    """Every default ``argparse.SUPPRESS``: only the flags given appear."""

    def __getattr__(self, name):
        return argparse.SUPPRESS


def build_parser(defaults=True):
    """The flags, in groups; with defaults=False every default is left out
    (explicit_settings)."""
    d = Config() if defaults else _NoDefaults()
    none = None if defaults else argparse.SUPPRESS
    p = Parser(prog=prog('train'), description=doc_summary(__doc__), epilog=doc_body(__doc__))
    g = p.add_argument_group('recipe')
    g.add_argument('--recipe', choices=tuple(RECIPES), default=none,
                   help="a seed system's recipe by name (flags given as well override it)")
    g.add_argument('--list-recipes', action=_ListRecipes, help='print the recipes and exit')
    _model_flags(p.add_argument_group('model'), d)
    _data_flags(p.add_argument_group('data'), d, none)
    _optimisation_flags(p.add_argument_group('optimisation'), d, none)
    _augmentation_flags(p.add_argument_group('augmentation'), d, none)
    _run_flags(p.add_argument_group('run directory'), d, none)
    _distributed_flags(p.add_argument_group('devices and distributed training'), d)
    return p


def _model_flags(g, d):
    g.add_argument('--arch', default=d.arch, help=arch_help().replace(
        'alexnet, ', '').replace("; alexnet: the book's, to compare with", '') +
        " (alexnet: summary only)")
    g.add_argument('--ratio', type=int_arg('a positive integer'), default=d.ratio,
                   help='divide every conv channel count by this (the book uses 4)')
    g.add_argument('--scale-dense', action='store_true', default=d.scale_dense,
                   help='also divide the dense width by --ratio')
    g.add_argument('--dropout', type=float_arg('a number in [0, 1)'), default=d.dropout,
                   help='dropout rate after the dense layers: 0 (off) or 1e-30 to below 1')
    g.add_argument('--no-hybridize', dest='hybridize', action='store_false', default=d.hybridize,
                   help='run imperatively (slower; for debugging)')


def _data_flags(g, d, none):
    g.add_argument('--resize', type=int_arg('an integer from 32 to 448'), default=d.resize,
                   help='input side in pixels, at most 448 (the book: 96 to fit memory, 224 in full)')
    g.add_argument('--data-dir', default=d.data_dir,
                   help='Fashion-MNIST IDX files (default: $VGG_GLUON_DATA, ~/.mxnet/datasets/'
                        'fashion-mnist, /usr/share/datasets/fashion-mnist, else download)')
    g.add_argument('--train-samples', type=int_arg('a positive integer'), default=none,
                   help='train on the first N images only (quick runs; default: all 60000)')
    g.add_argument('--test-samples', type=int_arg('a positive integer'), default=none,
                   help='evaluate on the first N test images only (default: all 10000)')


def _optimisation_flags(g, d, none):
    """Epochs, batch, the optimizer, momentum, decay, the rate's schedule, smoothing."""
    g.add_argument('--epochs', type=int_arg(f'an integer from 1 to {MAX_EPOCHS}'),
                   default=d.epochs, help=f'passes over the training images, at most {MAX_EPOCHS}')
    g.add_argument('--batch-size', type=int_arg(f'an integer from 1 to {MAX_BATCH}'),
                   default=d.batch_size,
                   help=f'images per step (over all devices and workers), at most {MAX_BATCH}')
    g.add_argument('--lr', type=float_arg('a positive number'), default=d.lr,
                   help=f'learning rate, {RATE_MIN:g} to {RATE_MAX:g} (MXNet takes it as float32)')
    g.add_argument('--optimizer', choices=OPTIMIZERS, default=d.optimizer,
                   help='sgd, nag (SGD with Nesterov momentum) or adam')
    g.add_argument('--momentum', type=float_arg('a number in [0, 1)'), default=d.momentum,
                   help="momentum of sgd and nag: 0 (the book's plain SGD) or 1e-30 to below 1")
    g.add_argument('--wd', type=float_arg('a finite number >= 0'), default=d.wd,
                   help=f'weight decay (L2), 0 or {RATE_MIN:g} to {RATE_MAX:g}; none on biases '
                        f'and BatchNorm unless --wd-all')
    g.add_argument('--wd-all', action='store_true', default=d.wd_all,
                   help="decay biases and BatchNorm's gamma and beta too")
    g.add_argument('--lr-schedule', choices=SCHEDULES, default=d.lr_schedule,
                   help='the rate per batch: constant, step (x --lr-factor after each of '
                        '--lr-steps), cosine (to 0), onecycle (lr/25 up to lr, then down to 0)')
    g.add_argument('--warmup-epochs', type=float_arg('a number >= 0'), default=none,
                   help='rise linearly to --lr over this many epochs first '
                        '(default: 0; onecycle: 30%% of the run)')
    g.add_argument('--lr-steps', type=int_list_arg('increasing epochs like 30,60'),
                   default=none, metavar='E1,E2,...',
                   help='--lr-schedule step: multiply the rate by --lr-factor after these epochs')
    g.add_argument('--lr-factor', type=float_arg('a number in (0, 1]'), default=d.lr_factor,
                   help=f'--lr-schedule step: the factor at each step, {RATE_MIN:g} to 1')
    g.add_argument('--label-smoothing', type=float_arg('a number in [0, 1)'),
                   default=d.label_smoothing,
                   help='train against targets with this much weight spread over all classes: '
                        '0 or 1e-30 to below 1')


def _augmentation_flags(g, d, none):
    g.add_argument('--augment', default=d.augment, metavar='LIST',
                   help=f"none, or comma-separated: {', '.join(AUGMENTATIONS)} (pad 4 and crop, "
                        f"random-resized crop, horizontal flip, random erasing), per batch; "
                        f"with --scale-jitter only flip and erase")
    g.add_argument('--scale-jitter', type=pair_arg('SMIN,SMAX'), default=none, metavar='SMIN,SMAX',
                   help='scale jittering: rescale each training image to a random side S in '
                        '[SMIN, SMAX], then crop a random --resize square (the paper: 256,512 '
                        'for 224; default: off)')
    g.add_argument('--tta', choices=TTAS, default=d.tta,
                   help="test-time augmentation of every evaluation: flip averages the "
                        "probabilities of each test image and its mirror (twice the "
                        "evaluation's work)")


def _run_flags(g, d, none):
    g.add_argument('--out', default=d.out, help='run directory (default: runs/<date-time>)')
    g.add_argument('--resume', metavar='RUN_DIR', default=none,
                   help='continue RUN_DIR from its last complete epoch with its own settings; '
                        'only --epochs, --lr, --data-dir, --gpus, --quiet may change')
    g.add_argument('--seed', type=int_arg('an integer from 0 to 2**32 - 1'), default=d.seed,
                   help='seeds Python, NumPy and MXNet: the same seed on the same machine '
                        'gives the same numbers')
    g.add_argument('--quiet', action='store_true', default=d.quiet,
                   help='no progress bar (outside a terminal: no progress lines on stderr, every '
                        '$VGG_GLUON_PROGRESS_SECONDS, default 30) and no start-up lines')


def _distributed_flags(g, d):
    g.add_argument('--gpus', default=d.gpus, help="auto (gpu 0 if present), cpu, or ids like 0,1")
    g.add_argument('--amp', action='store_true', default=d.amp,
                   help='train in float16 with MXNet AMP (GPU only; about 2x on tensor cores)')
    g.add_argument('--kvstore', choices=KVSTORES, default=d.kvstore,
                   help='Gluon kvstore; dist_* only under vgg-gluon launch')
    g.add_argument('--horovod', action='store_true', default=d.horovod,
                   help='all-reduce with Horovod (only under vgg-gluon horovodrun)')


class _ListRecipes(argparse.Action):
    """--list-recipes: print every recipe with its source, exit 0 (like --version)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print('\n'.join(describe(r) for r in RECIPES.values()))
        parser.exit(0)


def parse_config(argv=None):
    """Flags -> validated Config (ConfigError on a value out of range)."""
    args = vars(build_parser().parse_args(argv))
    args.pop('resume', None)  # main handles --resume
    name = args.pop('recipe')
    if name is not None:  # the recipe over the defaults, explicit flags over the recipe
        explicit = explicit_settings(build_parser, argv)
        explicit.pop('recipe')
        args.update(RECIPES[name].settings, **explicit)
        args['extra'] = {'recipe': name,
                         'overrides': sorted(k for k in explicit if k in RECIPES[name].settings)}
    return Config(**args).validate()


def _announce_recipe(config):
    name = config.extra.get('recipe')
    if name and not config.quiet:
        print(describe(RECIPES[name]))
        if config.extra['overrides']:
            print('  overridden by flags:', ', '.join(
                f"{k}={getattr(config, k)}" for k in config.extra['overrides']))


def _prepare(argv):
    """(config, resume or None) from the command line; nothing is written."""
    from .checkpoint.resume import prepare
    if build_parser().parse_args(argv).resume is None:
        config = parse_config(argv)
        _announce_recipe(config)
        return config, None
    given = explicit_settings(build_parser, argv)
    run_dir = given.pop('resume')
    if 'recipe' in given:
        raise ConfigError(f"a resumed run keeps the settings it was started with; drop "
                          f"--recipe {given['recipe']}", flag='recipe')
    return prepare(run_dir, given)


def main(argv=None):
    """Entry point; returns the exit status (2: bad input, 1: diverged or MXNet failed,
    74: the run directory could not be written (a full disk, a read-only or
    removed directory; sysexits' EX_IOERR), 130/143: stopped by Ctrl-C/SIGTERM;
    after 1, 74, 130 and 143 the line on stderr says what is saved and how to go on)."""
    build_parser().parse_args(argv)  # --help and usage errors before MXNet loads
    from .runtime.signals import stop_on_signals
    from .training.runner import run
    try:
        with stop_on_signals():
            config, resume = _prepare(argv)
            if resume is not None and resume.epochs_done >= config.epochs:
                print(f"{resume.run_dir} has finished all {config.epochs} epochs; "
                      f"give --epochs N (more) to train further")
                return 0
            _warn_memory(config)
            run(config, resume, say=print)
    except VGGGluonError as err:
        return _report(err)
    return 0


def _report(err):
    """The line for a run that did not finish, with what is saved and how to go on."""
    if isinstance(err, Interrupted):
        where = getattr(err, 'run_dir', None)
        if where is None:
            print(f"\n{prog('train')}: {err} before training began; nothing to resume", file=sys.stderr)
        else:
            print(f"\n{prog('train')}: {err}; {_saved(err.epochs_done)} in {where}; "
                  f"{go_on(where)}", file=sys.stderr)
    elif isinstance(err, TrainingDiverged):
        hint = ''
        if getattr(err, 'epochs_done', 0):
            hint = (f"; {_saved(err.epochs_done)} in {err.run_dir}, untouched; "
                    f"{go_on(err.run_dir, 'go on from there with a lower rate', ' --lr LR')}")
        print(f"{prog('train')}: stopped: {err}{hint}", file=sys.stderr)
    elif isinstance(err, SaveFailed):
        print(f"{prog('train')}: error: {err}; {_after_fault(err.run_dir)}", file=sys.stderr)
    elif isinstance(err, MXNetFailed):
        if err.run_dir is None:
            after = "nothing is saved (no run directory was created)"
        else:   # a value MXNet refused stays refused: say which flag may change on resuming
            after = (f"{_saved(err.epochs_done)} in {err.run_dir}; "
                     f"{go_on(err.run_dir, 'continue (with another --lr if the rate is at fault)')}")
        print(f"{prog('train')}: error: {err}; {after}", file=sys.stderr)
    else:
        return report(prog('train'), err)
    return err.exit_status


def _after_fault(run_dir):
    """What is saved in ``run_dir``, as read back now, and how to go on."""
    from .checkpoint.writer import last_saved_epoch
    if not os.path.isdir(run_dir):
        return f"nothing is saved ({run_dir} does not exist)"
    try:
        epoch = last_saved_epoch(run_dir)
    except Error as err:
        return f"the checkpoint in {run_dir} cannot be loaded ({err})"
    if not epoch and not os.path.isfile(os.path.join(run_dir, 'config.json')):
        return f"nothing is saved in {run_dir}"
    return (f"{_saved(epoch)} in {run_dir}; once it can be written (free space, write "
            f"permission), {go_on(run_dir)}")


def go_on(run_dir, lead='continue with', extra=''):
    """'continue with: python -m vgg_gluon.train --resume RUN_DIR', or for a
    parameter-server run, which cannot be resumed, what its epochs are good for."""
    from .checkpoint.reader import optimizer_on_servers
    try:
        on_servers = optimizer_on_servers(run_dir)  # the manifest only: fast on a stop
    except Error:
        on_servers = False  # a broken checkpoint: --resume says what is wrong with it
    if on_servers:
        return (f"a parameter-server run cannot be resumed (the servers kept the optimizer "
                f"state): evaluate, predict or export its epochs (python -m vgg_gluon.evaluate "
                f"{run_dir}) or train anew")
    return f"{lead}: {prog('train')} --resume {run_dir}{extra}"


def _warn_memory(config):
    """One line on stderr when the estimate exceeds the memory free on a device
    (the run goes on with the batch asked for: the estimate may be wrong)."""
    from .training.memory import check_training, format_size
    short = check_training(config)
    if short is None:
        return
    fits = (f"{spell('batch_size')} {short['largest_batch']} would fit" if short['largest_batch']
            else "no batch would fit")
    print(f"{prog('train')}: warning: training needs about {format_size(short['estimate_bytes'])} "
          f"(estimated for batch {short['batch_size']}) but {short['device']} has "
          f"{format_size(short['available_bytes'])} available; {fits}; going on with batch "
          f"{short['batch_size']}", file=sys.stderr)


def _saved(epochs_done):
    if not epochs_done:
        return "no epoch has finished yet"
    return "epoch 1 is saved" if epochs_done == 1 else f"epochs 1-{epochs_done} are saved"


if __name__ == '__main__':
    sys.exit(main())
