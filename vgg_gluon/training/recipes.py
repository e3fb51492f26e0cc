"""The seed systems' training recipes, by name, with where each comes from.

    python -m vgg_gluon.train --recipe seed002      # flags given as well override it

A recipe is a set of Config fields; ``settings`` names only what the source
fixes, everything else keeps Config's default. ``log`` is the epoch log the
source itself printed (None when it shows none), quoted so that notebooks
and the docs site's chapter page (docs/chapter.md) can set a run beside it.

What a committed run of a recipe gave here is not in this module: it is in
``results/<name>/measured.json`` of the project's checkout, beside the log
and the command it comes from (``measured``).
"""
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Tuple

DEFAULT = 'seed000'
# The checkout's results/, beside the package; an installed package has none.
RESULTS_DIR = Path(__file__).resolve().parents[2] / 'results'


@dataclass(frozen=True)
class Recipe:
    name: str
    source: str                     # where the recipe comes from
    settings: dict                  # Config field -> value
    note: str = ''                  # what differs from the source, if anything
    log: Optional[Tuple[str, ...]] = field(default=None)  # the source's own epoch lines


RECIPES = {r.name: r for r in (
    Recipe(
        'seed000',
        "seed 000 (blog post on the d2lzh VGG chapter, MXNet Gluon, run on a GPU): "
        "small_conv_arch with ratio 4, resize 96, SGD lr 0.05, batch 128, 5 epochs, Xavier",
        dict(arch='vgg11', ratio=4, scale_dense=False, resize=96, epochs=5, lr=0.05,
             batch_size=128, optimizer='sgd'),
        log=('epoch 1, loss 1.2532, train acc 0.554, test acc 0.792, time 53.6 sec',
             'epoch 2, loss 0.4949, train acc 0.818, test acc 0.841, time 51.4 sec',
             'epoch 3, loss 0.3940, train acc 0.856, test acc 0.871, time 51.4 sec',
             'epoch 4, loss 0.3464, train acc 0.873, test acc 0.883, time 51.5 sec',
             'epoch 5, loss 0.3153, train acc 0.884, test acc 0.890, time 51.5 sec')),
    Recipe(
        'seed002',
        "seed 002 (blog post on the d2l PyTorch port's VGG chapter): ratio 8 for the conv "
        "channels and the 4096-unit dense layers, resize 224, Adam lr 0.001, batch 64, 5 epochs",
        dict(arch='vgg11', ratio=8, scale_dense=True, resize=224, epochs=5, lr=0.001,
             batch_size=64, optimizer='adam'),
        note="the source is PyTorch (default Kaiming-uniform init); here Gluon with Xavier"),
    Recipe(
        'd2l-en',
        "d2l-en, MXNet edition, chapter 'Networks Using Blocks (VGG)': ratio 4, "
        "resize 224, SGD lr 0.05, batch 128, 10 epochs",
        dict(arch='vgg11', ratio=4, scale_dense=False, resize=224, epochs=10, lr=0.05,
             batch_size=128, optimizer='sgd')),
    Recipe(
        'fast',
        "this project: the seed's 0.890 in the least time on a 2-core CPU, in one epoch. "
        "Fashion-MNIST's own 28 px with VGG-11's first four blocks (a fifth pooling would leave "
        "no pixel), channels / 4 and the dense layers / 4 too (at this size they would cost more "
        "than all convolutions); batch norm, Nesterov momentum and a one-cycle schedule "
        "(Smith 2018) at lr 0.2, label smoothing, flip augmentation, and each test image scored "
        "with its mirror (--tta flip)",
        dict(arch='1x64,1x128,2x256,2x512-bn', ratio=4, scale_dense=True, resize=28, epochs=1,
             lr=0.2, batch_size=128, optimizer='nag', momentum=0.9, lr_schedule='onecycle',
             label_smoothing=0.1, augment='flip', tta='flip')),
    Recipe(
        'best',
        "this project: >= 0.940 in at most 15 epochs and an hour on 2 cores. "
        "VGG-13 (configuration B) with batch norm at half the book's channels, 32 px, batch 64, "
        "Nesterov momentum, weight decay (none on biases and BatchNorm), a warm-up then cosine "
        "schedule, label smoothing, crop + flip augmentation (the CIFAR recipe of GluonCV's and "
        "torchvision's reference scripts)",
        dict(arch='vgg13-bn', ratio=2, scale_dense=True, resize=32, epochs=15, lr=0.05,
             batch_size=64, optimizer='nag', momentum=0.9, wd=5e-4, lr_schedule='cosine',
             warmup_epochs=1, label_smoothing=0.1, augment='crop,flip')),
)}


def get_recipe(name):
    """The recipe called ``name``; KeyError naming the valid ones otherwise."""
    try:
        return RECIPES[name]
    except KeyError:
        raise KeyError(f"unknown recipe {name!r}: choose one of {', '.join(RECIPES)}") from None


def measured(name, results_dir=None):
    """The parsed ``results/<name>/measured.json``, or None when there is none.

    results_dir: the directory holding one directory per run (default
    ``RESULTS_DIR``). The file holds what a committed run gave: ``command``,
    ``date``, ``cpu``, ``epochs``, ``runs`` (per seed: ``seed``, ``started``,
    ``ended``, ``wall_seconds``, ``test_acc`` by epoch), the committed
    ``source_files`` (paths from the checkout's root) every figure is read from,
    and optionally ``compared``: a run beside another recipe's, with its own
    command, ``wall_seconds`` and ``test_acc`` by recipe, and sources.
    """
    path = Path(results_dir if results_dir is not None else RESULTS_DIR) / name / 'measured.json'
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def describe(recipe):
    """One printable paragraph: name, settings, source, what a committed run measured."""
    settings = ', '.join(f'{k}={v}' for k, v in recipe.settings.items())
    text = f"recipe {recipe.name}: {settings}\n  from {recipe.source}"
    if recipe.note:
        text += f"\n  note: {recipe.note}"
    return text + '\n  ' + _measured_lines(recipe.name)


def _measured_lines(name):
    """'measured: test acc ... after N epochs ...' from measured.json, or that there is none."""
    where = f"results/{name}/measured.json"
    data = measured(name)
    if data is None:
        return f"measured: none here (no {where})"
    runs, last = data['runs'], str(data['epochs'])
    accs = ', '.join(f"{r['test_acc'][last]:.3f}" for r in runs)
    seeds = ('seeds ' if len(runs) > 1 else 'seed ') + ', '.join(str(r['seed']) for r in runs)
    walls = ', '.join(str(r['wall_seconds']) for r in runs)
    text = (f"measured: test acc {accs} after {last} epochs ({seeds}), wall time {walls} s; "
            f"{data['command']}; {data['date']}, {data['cpu']} ({where})")
    other = data.get('compared')
    if other:
        mine, theirs = other['wall_seconds'][name], other['wall_seconds'][other['recipe']]
        # the benchmark's own fraction, from unrounded times, where the file has it
        fraction = other.get('fraction', f"1/{theirs / mine:.1f}")
        text += (f"\n  against {other['recipe']}: wall time {mine} s against {theirs} s "
                 f"({fraction}), test acc {other['test_acc'][name]:.3f} against "
                 f"{other['test_acc'][other['recipe']]:.3f}; {other['command']}; "
                 f"{other['date']}, {other['cpu']} ({', '.join(other['source_files'])})")
    return text


_LINE = re.compile(r'epoch (\d+), loss ([\d.naif]+), train acc ([\d.]+), '
                   r'test acc ([\d.]+), time ([\d.]+) sec')


def parse_log_line(line):
    """'epoch 1, loss 1.2532, train acc 0.554, ...' -> {'epoch': 1, 'loss': 1.2532, ...}.

    The book's line format (``train_ch5``); ValueError for anything else.
    """
    match = _LINE.search(line)
    if match is None:
        raise ValueError(f"not a train_ch5 epoch line: {line!r}")
    epoch, *values = match.groups()
    return dict(zip(('epoch', 'loss', 'train_acc', 'test_acc', 'time'),
                    [int(epoch)] + [float(v) for v in values]))
