"""Where a recipe's wall time goes: start-up, data, the steps, the data pipeline, Python, evaluation.

    python -m benchmarks.epoch_breakdown                    # the fast recipe, one epoch
    python -m benchmarks.epoch_breakdown --recipe seed000 --train-samples 12800

Phases, each timed on its own in this process with the recipe's own network,
trainer, loss, schedule and data (``training.runner``'s functions, as
``python -m vgg_gluon.train`` builds them), after a warm-up that pays oneDNN's
kernel creation:

  import      ``import vgg_gluon.train, mxnet`` in a fresh interpreter
  data        reading the IDX files and resizing (``load_data``)
  build       weights drawn, graph hybridized, its first forward pass
  pipeline    iterating the training batches alone: shuffle, gather, augment, to NDArray
  steps       forward, backward and update on one batch held on the device, as many
              times as the epoch has batches
  epoch       the book's ``train_epoch`` over the real batches
  loop        epoch - steps - pipeline: what the loop adds (Python, metrics, the engine)
  evaluation  ``evaluate_accuracy`` on the test images (with the recipe's --tta)

and, for comparison, the whole ``python -m vgg_gluon.train`` process of one
epoch, timed from outside (``whole``); ``rest`` is what it spends beyond the
phases above (writing the run directory, the checkpoint, exiting).
"""
import os
import subprocess
import sys
import time

from ._args import Parser, at_least
from .bench_train import ROOT


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def import_seconds():
    """Seconds of ``import vgg_gluon.train, mxnet`` in a fresh interpreter."""
    code = 'import time; t = time.perf_counter(); import vgg_gluon.train, mxnet; ' \
           'print(time.perf_counter() - t)'
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return float(out.stdout.split()[-1])


def phases(config):
    """{phase: seconds} for one epoch of ``config`` (a validated Config)."""
    import mxnet as mx
    from mxnet import autograd
    from vgg_gluon.runtime.seeding import seed_everything
    from vgg_gluon.training import schedules
    from vgg_gluon.training.loop import evaluate_accuracy, train_epoch
    from vgg_gluon.training.runner import build_model, load_data, make_loss
    ctx = mx.cpu()
    seconds = {'import': import_seconds()}
    seconds['data'], (train_iter, test_iter) = _timed(lambda: load_data(config))
    seed_everything(config.seed)

    def build():
        net, trainer = build_model(config, [ctx])
        net(mx.nd.zeros((config.batch_size, 1, config.resize, config.resize), ctx=ctx)).wait_to_read()
        return net, trainer
    seconds['build'], (net, trainer) = _timed(build)
    schedules.attach(trainer, config, len(train_iter))
    loss = make_loss(config)
    X, y = next(iter(train_iter))
    for _ in range(3):  # warm-up: primitive creation, first-touch page faults
        with autograd.record():
            l = loss(net(X), y).sum()
        l.backward()
        trainer.step(config.batch_size)
    mx.nd.waitall()
    seconds['pipeline'], _ = _timed(lambda: [None for _ in train_iter])

    def steps():
        for _ in range(len(train_iter)):
            with autograd.record():
                l = loss(net(X), y).sum()
            l.backward()
            trainer.step(config.batch_size)
        mx.nd.waitall()
    seconds['steps'], _ = _timed(steps)

    def epoch():
        train_epoch(net, train_iter, loss, trainer, config.batch_size, [ctx])
        mx.nd.waitall()
    seconds['epoch'], _ = _timed(epoch)
    seconds['loop'] = seconds['epoch'] - seconds['steps'] - seconds['pipeline']
    seconds['evaluation'], _ = _timed(lambda: evaluate_accuracy(test_iter, net, ctx, tta=config.tta))
    return seconds


def whole_seconds(recipe, args, out):
    """Wall seconds of ``python -m vgg_gluon.train --recipe R --epochs 1`` from outside."""
    cmd = [sys.executable, '-m', 'vgg_gluon.train', '--recipe', recipe, '--epochs', '1',
           '--quiet', '--out', out]
    for flag, value in (('--train-samples', args.train_samples),
                        ('--test-samples', args.test_samples)):
        if value is not None:
            cmd += [flag, str(value)]
    seconds, _ = _timed(lambda: subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True))
    return seconds


def format_breakdown(seconds, batches):
    order = ('import', 'data', 'build', 'pipeline', 'steps', 'loop', 'evaluation', 'rest')
    total = seconds['whole']
    lines = [f"{'phase':<11}{'seconds':>9}{'of whole':>10}"]
    for phase in order:
        lines.append(f"{phase:<11}{seconds[phase]:>9.2f}{seconds[phase] / total:>9.0%}")
    lines.append(f"{'whole':<11}{total:>9.2f}{1:>9.0%}")
    lines.append(f"(epoch = pipeline + steps + loop = {seconds['epoch']:.2f} s over {batches} "
                 f"batches: {1000 * seconds['steps'] / batches:.1f} ms a step)")
    return '\n'.join(lines)


def main(argv=None):
    import tempfile
    from vgg_gluon.cli.arguments import int_arg
    from vgg_gluon.training.recipes import RECIPES
    p = Parser(description=__doc__.split('\n')[0])
    p.add_argument('--recipe', default='fast', choices=tuple(RECIPES))
    p.add_argument('--train-samples', type=int_arg('a positive integer'), default=None)
    p.add_argument('--test-samples', type=int_arg('a positive integer'), default=None)
    p.add_argument('--rounds', type=at_least(1), default=1,
                   help='measure this many times, alternating with the whole process; '
                        'each phase reports its fastest')
    args = p.parse_args(argv)
    from vgg_gluon.config import Config
    from vgg_gluon.training.measure import where_and_when
    from vgg_gluon.training.recipes import get_recipe
    settings = dict(get_recipe(args.recipe).settings, epochs=1, train_samples=args.train_samples,
                    test_samples=args.test_samples, quiet=True)
    config = Config(**settings).validate()
    print(where_and_when('benchmarks.epoch_breakdown', argv))
    best = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            measured = phases(config)
            measured['whole'] = whole_seconds(args.recipe, args, os.path.join(tmp, f'run{i}'))
            for phase, value in measured.items():
                best[phase] = min(value, best.get(phase, value))
    best['rest'] = best['whole'] - sum(best[k] for k in ('import', 'data', 'build', 'epoch',
                                                          'evaluation'))
    batches = -(-(args.train_samples or 60000) // config.batch_size)
    print(f"# recipe {args.recipe}, one epoch; fastest of {args.rounds} round(s)")
    print(format_breakdown(best, batches))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
