"""The seed systems' training recipes, by name, with where each comes from.

    python -m vgg_gluon.train --recipe seed002      # flags given as well override it

A recipe is a set of Config fields; ``settings`` names only what the source
fixes, everything else keeps Config's default. ``log`` is the epoch log the
source itself printed (None when it shows none), quoted so that notebooks
and the README can set a run beside it.
"""
import re
from dataclasses import dataclass, field
from typing import Optional, Tuple

DEFAULT = 'seed000'

# What the committed runs gave (results/fast, results/best), with how they were made.
FAST_MEASURED = (
    "test accuracy 0.918, 0.921, 0.919 after 3 epochs with seeds 0, 1, 2 (0.901, 0.896, 0.903 "
    "after 2), 105, 110, 103 s wall time each (python -m vgg_gluon.train --recipe fast --seed S, "
    "results/fast). Against the seed's recipe, both in full on one idle machine: 103 s against "
    "1,305 s of wall time, 1/12.7 (0.918 against 0.883; python -m benchmarks.time_to_accuracy, "
    "2026-11-24 21:26-22:34 UTC, AMD EPYC (Zen 4, AVX-512), 2 cores)")
BEST_MEASURED = (
    "test accuracy 0.941 after 15 epochs (the best epoch; 0.933 after 11, 0.898 after 3); "
    "2658 s wall time, the epochs 172 to 185 s. python -m vgg_gluon.train --recipe best, "
    "2026-11-24 19:42-20:27 UTC, AMD EPYC (Zen 4, AVX-512), 2 cores (results/best)")


@dataclass(frozen=True)
class Recipe:
    name: str
    source: str                     # where the recipe comes from
    settings: dict                  # Config field -> value
    note: str = ''                  # what differs from the source, if anything
    log: Optional[Tuple[str, ...]] = field(default=None)  # the source's own epoch lines
    measured: str = ''              # what a committed run of it gave here: numbers, command, date, CPU


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
        "this project (issue 16): the seed's 0.890 in the least time on a 2-core CPU. At 32 px "
        "the two 4096-unit dense layers cost more than all convolutions, so they are divided "
        "by the ratio too; batch norm, Nesterov momentum and a one-cycle schedule (Smith 2018) "
        "train it in 3 epochs",
        dict(arch='vgg11-bn', ratio=4, scale_dense=True, resize=32, epochs=3, lr=0.1,
             batch_size=128, optimizer='nag', momentum=0.9, lr_schedule='onecycle',
             label_smoothing=0.1, augment='flip'),
        measured=FAST_MEASURED),
    Recipe(
        'best',
        "this project (issue 16): >= 0.940 in at most 15 epochs and an hour on 2 cores. "
        "VGG-13 (configuration B) with batch norm at half the book's channels, 32 px, batch 64, "
        "Nesterov momentum, weight decay (none on biases and BatchNorm), a warm-up then cosine "
        "schedule, label smoothing, crop + flip augmentation (the CIFAR recipe of GluonCV's and "
        "torchvision's reference scripts). Tried first, 2026-11-24: VGG-11 the same way at "
        "batch 128 and lr 0.1 gave 0.932 (train 0.942); with random erasing as well 0.930 "
        "(train 0.923: underfit)",
        dict(arch='vgg13-bn', ratio=2, scale_dense=True, resize=32, epochs=15, lr=0.05,
             batch_size=64, optimizer='nag', momentum=0.9, wd=5e-4, lr_schedule='cosine',
             warmup_epochs=1, label_smoothing=0.1, augment='crop,flip'),
        measured=BEST_MEASURED),
)}


def get_recipe(name):
    """The recipe called ``name``; KeyError naming the valid ones otherwise."""
    try:
        return RECIPES[name]
    except KeyError:
        raise KeyError(f"unknown recipe {name!r}: choose one of {', '.join(RECIPES)}") from None


def describe(recipe):
    """One printable paragraph: name, settings, source."""
    settings = ', '.join(f'{k}={v}' for k, v in recipe.settings.items())
    text = f"recipe {recipe.name}: {settings}\n  from {recipe.source}"
    if recipe.note:
        text += f"\n  note: {recipe.note}"
    if recipe.measured:
        text += f"\n  measured: {recipe.measured}"
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
