"""Measured on this machine: seconds per training step, and the resident memory
a training run adds.

    seconds = step_seconds('alexnet', resize=224, batch_size=32)
    growth = peak_growth(dict(arch='vgg11', ratio=4, resize=96, batch_size=128))

Both train the network as ``python -m vgg_gluon.train`` does in one process
(``trainable``: Xavier weights, a hybridized static graph, a Gluon Trainer,
the book's loop ``train_epoch``) on the first images of the real
Fashion-MNIST. ``peak_growth`` runs in a fresh Python process so that one
measurement cannot inherit another's memory.
"""
import json
import os
import subprocess
import sys
import time

import mxnet as mx
from mxnet import gluon, init

from ..data.fashion_mnist import load_data_fashion_mnist
from .loop import evaluate_accuracy, train_epoch
from ..models.registry import get_model
from ..runtime.seeding import seed_everything


def trainable(arch, ratio=1, resize=224, optimizer='sgd', lr=0.05, momentum=0.0,
              ctx=None, seed=0):
    """(net, trainer) as ``training.build_model`` makes them for one process,
    for any network ``model.get_model`` knows ('alexnet' too): Xavier weights
    drawn now (one forward pass on zeros), hybridized with a static graph."""
    ctx = ctx or mx.cpu()
    seed_everything(seed)
    net = get_model(arch, ratio=ratio)
    net.initialize(init.Xavier(), ctx=[ctx])
    net.hybridize(static_alloc=True, static_shape=True)
    net(mx.nd.zeros((1, 1, resize, resize), ctx=ctx))
    params = {'learning_rate': lr}
    if momentum:
        params['momentum'] = momentum
    trainer = gluon.Trainer(list(net.collect_params().values()), optimizer, params,
                            kvstore='device')
    return net, trainer


def step_seconds(arch, ratio=1, resize=224, batch_size=32, steps=5, warmup=1,
                 data_dir=None, ctx=None, optimizer='sgd', lr=0.05):
    """Seconds of one training step (forward, backward, update): the fastest of
    ``steps`` real batches, after ``warmup`` steps that pay for oneDNN's kernel
    creation and first-touch page faults. The fastest, because on a shared
    machine other processes can only add time to a step."""
    ctx = ctx or mx.cpu()
    net, trainer = trainable(arch, ratio, resize, optimizer, lr, ctx=ctx)
    train_iter, _ = load_data_fashion_mnist(batch_size, resize=resize, root=data_dir,
                                            train_samples=batch_size * (steps + warmup),
                                            test_samples=1)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    batches = list(train_iter)
    train_epoch(net, batches[:warmup], loss, trainer, batch_size, [ctx])
    times = []
    for batch in batches[warmup:]:
        start = time.perf_counter()
        train_epoch(net, [batch], loss, trainer, batch_size, [ctx])  # reads the loss: waits
        times.append(time.perf_counter() - start)
    return min(times)


def _status_bytes(field):
    """A VmRSS/VmHWM line of /proc/self/status, in bytes (Linux)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    raise OSError(f'/proc/self/status has no {field}')


def measure_here(settings):
    """In this process: what training ``settings`` adds to the peak resident memory.

    settings: arch, ratio, resize, batch_size, optimizer ('sgd'), momentum (0),
    steps per epoch (2), epochs (3), data_dir (None). The data slice is read
    first; then the peak (VmHWM) is reset to the current size, the network
    built and trained for ``epochs`` short epochs with the test batch
    evaluated between them, as a run does (MXNet plans a static graph's
    memory anew at each switch between training and evaluation, and the
    allocator's heap settles after about three).
    Returns {'before_bytes': resident size before, 'growth_bytes': peak - before}.
    """
    s = dict({'optimizer': 'sgd', 'momentum': 0.0, 'steps': 2, 'epochs': 3, 'data_dir': None},
             **settings)
    batch, ctx = s['batch_size'], mx.cpu()
    train_iter, test_iter = load_data_fashion_mnist(
        batch, resize=s['resize'], root=s['data_dir'], train_samples=batch * s['steps'],
        test_samples=batch)
    mx.nd.waitall()
    before = _status_bytes('VmRSS')
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # Linux >= 4.0: VmHWM := VmRSS
    net, trainer = trainable(s['arch'], s['ratio'], s['resize'], s['optimizer'],
                             momentum=s['momentum'], ctx=ctx)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    for epoch in range(s['epochs']):
        if epoch:
            evaluate_accuracy(test_iter, net, ctx)
        train_epoch(net, train_iter, loss, trainer, batch, [ctx])
    mx.nd.waitall()
    return {'before_bytes': before, 'growth_bytes': _status_bytes('VmHWM') - before}


def peak_growth(settings, timeout=900):
    """``measure_here(settings)`` in a fresh Python process (this one's
    interpreter and environment); returns its dict."""
    code = ('import json, sys, vgg_gluon; from vgg_gluon.training.measure import measure_here; '
            'print(json.dumps(measure_here(json.loads(sys.argv[1]))))')
    done = subprocess.run([sys.executable, '-c', code, json.dumps(settings)],
                          capture_output=True, text=True, timeout=timeout, env=os.environ.copy())
    if done.returncode != 0:
        raise RuntimeError(f"measuring {settings} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine():
    """This machine in one line: CPU model, usable cores, vector extensions, MXNet."""
    model, flags, ids = 'unknown CPU', set(), {}
    text = open('/proc/cpuinfo').read() if os.path.exists('/proc/cpuinfo') else ''
    for line in text.splitlines():
        key, _, value = line.partition(':')
        if key.strip() == 'model name':
            model = value.strip()
        elif key.strip() == 'flags':
            flags = set(value.split())
        elif key.strip() in ('cpu family', 'model'):
            ids.setdefault(key.strip(), value.strip())
    if len(ids) == 2:   # a VM may name only the product line: these tell its generation
        model += f" (family {ids['cpu family']}, model {ids['model']})"
    vector = ('AVX-512' if 'avx512f' in flags else 'AVX2' if 'avx2' in flags else
              'no AVX2' if flags else 'vector extensions unknown')
    return (f"{model}, {len(os.sched_getaffinity(0))} cores, {vector}, "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, mxnet {mx.__version__}")


def utc_now():
    """Now, UTC, to the second, as YYYY-MM-DDTHH:MM:SSZ."""
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())


def load_average(values=None):
    """The 1, 5 and 15 minute load averages (``values``, else now) as text: '0.00, 0.46, 0.90'."""
    return ', '.join(f'{x:.2f}' for x in (os.getloadavg() if values is None else values))


def command_line(module, argv=None):
    """The command as typed: 'python -m MODULE ARGS' (``argv`` None: this process's)."""
    return ' '.join([f'python -m {module}'] + list(sys.argv[1:] if argv is None else argv))


def where_and_when(module, argv=None):
    """The first lines of a benchmark's text report: the command, when it started (UTC),
    this machine and its load average then (a busy machine's numbers are not an idle one's)."""
    return (f"# {command_line(module, argv)}\n# started {utc_now()}; {machine()}; "
            f"load average at start: {load_average()}")
