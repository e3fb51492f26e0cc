"""What the progress bar costs, and whether it tells the truth: the seed's recipe
with and without ``train_ch5``'s bar, epochs alternating in one process.

    python -m benchmarks.bench_progress                       # 6,400 images, 3 rounds
    python -m benchmarks.bench_progress --train-samples 1280 --rounds 1 --json

After one warm-up epoch, each round trains one epoch without a bar and one
with it (``training.ProgressBar``, drawn to /dev/null), in rotating order,
on the first N training images (VGG-11/4, 96 px, batch 128, SGD lr 0.05, as
``python -m vgg_gluon.train``). Reported: each variant's median training
time per epoch and their ratio; for the bar's epochs, when the bar reached
50 % and 100 % against when the epoch's work ended, beside when a bar
wrapping the batch iterator would have (in this loop the iterator cannot run
more than the bar's lag ahead); and for the epochs without the bar, the loop
as it was before, when a bar on the iterator (what tqdm around the batches
showed) reached 50 % and 100 %: there the enqueueing runs ahead of the work
until the loop's NaN check reads the loss (every 50 batches).
"""
import contextlib
import io
import json
import os
import statistics
import time

import vgg_gluon  # noqa: F401  (OMP_NUM_THREADS before mxnet)
import mxnet as mx

from vgg_gluon.training import runner as training
from vgg_gluon.config import Config
from vgg_gluon.training.loop import TrainOptions, train_ch5
from vgg_gluon.runtime.seeding import seed_everything

from ._args import Parser, at_least
from .bench_train import rotated


class _TimedBar(training.ProgressBar):
    """The real bar, noting when it passed each batch."""

    def __init__(self, total, desc):
        super().__init__(total, desc)
        self.times = []

    def update(self, loss_sum, correct, n):
        super().update(loss_sum, correct, n)
        self.times.append(time.perf_counter())


class _EnqueueTimes:
    """The batches of ``batches``, noting what a bar wrapping the batch iterator
    sees: the time each batch is taken."""

    def __init__(self, batches, times):
        self.batches, self.times = batches, times

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        for batch in self.batches:
            yield batch
            self.times.append(time.perf_counter())


def one_epoch(net, trainer, train_iter, test_iter, config, epoch, bar):
    """(train seconds, {'bar': [...], 'enqueue': [...]} times since start) of one epoch."""
    made, enqueued = [], []

    def make_bar(total, desc):
        made.append(_TimedBar(total, desc))
        return made[-1]

    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), \
            open(os.devnull, 'w') as null, contextlib.redirect_stderr(null):
        history = train_ch5(net, _EnqueueTimes(train_iter, enqueued), test_iter,
                            config.batch_size, trainer, [mx.cpu()], epoch + 1,
                            options=TrainOptions(start_epoch=epoch,
                                                 bar=make_bar if bar else None))
    end = start + history[0]['time']
    times = {'bar': [t - start for t in made[0].times] if bar else [],
             'enqueue': [t - start for t in enqueued]}
    return end - start, times


def _at(times, fraction):
    return times[max(0, int(round(fraction * len(times))) - 1)] if times else None


def measure(args):
    config = Config(ratio=4, resize=96, epochs=2 * args.rounds + 1, gpus='cpu',
                    train_samples=args.train_samples, test_samples=args.test_samples).validate()
    seed_everything(config.seed)
    net, trainer = training.build_model(config, [mx.cpu()])
    train_iter, test_iter = training.load_data(config)
    one_epoch(net, trainer, train_iter, test_iter, config, 0, bar=False)  # warm-up
    runs = {'no bar': [], 'bar': []}
    honesty, ahead = [], []
    epoch = 1
    for r in range(args.rounds):
        for name in rotated(['no bar', 'bar'], r):
            seconds, times = one_epoch(net, trainer, train_iter, test_iter, config, epoch,
                                       bar=name == 'bar')
            runs[name].append(seconds)
            epoch += 1
            if name == 'no bar':   # the loop without the bar's reads: tqdm's view before
                ahead.append({'epoch_s': seconds,
                              'enqueue_50_s': _at(times['enqueue'], 0.5),
                              'enqueue_100_s': _at(times['enqueue'], 1.0)})
            if name == 'bar':
                honesty.append({'epoch_s': seconds,
                                'bar_50_s': _at(times['bar'], 0.5),
                                'bar_100_s': _at(times['bar'], 1.0),
                                'enqueue_50_s': _at(times['enqueue'], 0.5),
                                'enqueue_100_s': _at(times['enqueue'], 1.0)})
    medians = {name: statistics.median(v) for name, v in runs.items()}
    return {'train_samples': args.train_samples, 'rounds': args.rounds,
            'epoch_s': runs, 'median_s': medians,
            'bar_vs_no_bar': medians['bar'] / medians['no bar'], 'honesty': honesty,
            'iterator_without_bar': ahead}


def main(argv=None):
    p = Parser(description=__doc__.split('\n')[0])
    p.add_argument('--train-samples', type=at_least(128), default=6400)
    p.add_argument('--test-samples', type=at_least(1), default=256)
    p.add_argument('--rounds', type=at_least(1), default=3)
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)
    from vgg_gluon.training.measure import where_and_when
    header = where_and_when('benchmarks.bench_progress', argv)
    report = measure(args)
    if args.json:
        print(json.dumps(dict(report, header=header), indent=1))
        return 0
    print(header)
    print(f"{args.train_samples} images a training epoch, {args.rounds} rounds; median s/epoch:")
    for name, value in report['median_s'].items():
        print(f"  {name:<7} {value:7.2f}  (rounds: "
              f"{', '.join(f'{v:.2f}' for v in report['epoch_s'][name])})")
    print(f"  bar / no bar: {report['bar_vs_no_bar']:.3f}")
    print("when the bar showed 50 % / 100 %, against the epoch's training end (s):")
    for h in report['honesty']:
        print(f"  this bar {h['bar_50_s']:.1f} / {h['bar_100_s']:.1f};  a bar on the "
              f"iterator {h['enqueue_50_s']:.1f} / {h['enqueue_100_s']:.1f};  "
              f"epoch ended {h['epoch_s']:.1f}")
    print("without the bar (nothing read until the loop's NaN check every 50 batches), a bar "
          "on the iterator 50 % / 100 %:")
    for h in report['iterator_without_bar']:
        print(f"  {h['enqueue_50_s']:.1f} / {h['enqueue_100_s']:.1f};  epoch ended {h['epoch_s']:.1f}")
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
