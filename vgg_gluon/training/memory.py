"""Training memory, estimated before a run: will it fit, and which batch would?

One training step of a network on one device holds, for a batch of n images
(float32, 4 bytes a number):

- the parameters, and one gradient for each trainable one (Gluon allocates
  the gradients together with the weights);
- the optimizer's states: SGD and NAG without momentum none, with momentum
  one copy of the weights, Adam two (mean and variance);
- the activations the backward pass needs, kept from the forward pass: the
  input batch; one array per convolution or dense layer (its ReLU runs in
  place: MXNet 1.9.1's ReLU backward needs only its output, so the memory
  planner lets it overwrite the layer's output); a BatchNorm's output and
  the ReLU after it; LRN's output and its normaliser; each max-pooling's
  output and its oneDNN workspace (where the maxima were); each dropout's
  output and its mask;
- the backward pass's working set, three arrays the size of the largest
  activation: the gradient arriving at it, the one it sends on, and
  oneDNN's copy of one of them in its blocked layout (MXNet keeps such
  temporary memory at its largest size);
- evaluation between epochs, three more: MXNet plans a static graph's memory
  anew at every switch between training and evaluation; the inference
  graph's buffers (about twice the largest activation) are still held when
  the training graph's are allocated again, and the per-thread heaps of
  MXNet's engine do not give all freed memory back for reuse.

The sizes come from ``layer_table`` (MXNet's shape inference: nothing is
allocated). Each term was measured by adding it alone (one more convolution,
a BatchNorm, a switch to evaluation) to a one-block network and watching the
peak resident memory of a fresh process grow; ``python -m
benchmarks.memory_check`` compares the totals with what whole training runs
add on the CPU. Not counted: the process itself (Python, MXNet's library,
the data set), there before training starts. On a GPU the same arrays are
allocated, but cuDNN's workspaces and the pooled allocator's rounding come on
top (the docs site's Memory page, docs/memory.md, "On a GPU").
"""
import math
import os
import re

from ..config import OPTIMIZERS
from ..runtime.devices import select_ctx
from ..errors import ConfigError
from ..models.layer_table import summarize

DTYPE_BYTES = 4                 # float32: parameters, gradients, states, activations
# A max-pooling keeps its output and oneDNN's workspace, the position of each
# maximum: an int32 array of the output's shape in MXNet 1.9.1.
POOL_WORKSPACE = 1.0
# Arrays the size of the largest activation (see above; measured 2.8 to 4.2
# for the first training pass, 1.8 to 2.5 more after the switches to evaluation).
BACKWARD, EVALUATION = 3, 3

_UNITS = {'b': 1, 'kb': 10 ** 3, 'mb': 10 ** 6, 'gb': 10 ** 9, 'tb': 10 ** 12,
          'kib': 2 ** 10, 'mib': 2 ** 20, 'gib': 2 ** 30, 'tib': 2 ** 40}
_SIZE = re.compile(r'\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zA-Z]+)\s*')


def parse_size(text, flag='memory'):
    """'8GiB', '512 MiB', '1.5GB', '100B' -> bytes (int). Binary units (KiB, MiB,
    GiB, TiB) are powers of 1024, decimal ones (KB, MB, GB, TB) of 1000;
    case does not matter. ConfigError naming ``flag`` for anything else."""
    match = _SIZE.fullmatch(str(text))
    if not match or match.group(2).lower() not in _UNITS or float(match.group(1)) <= 0:
        raise ConfigError(f"must be a size such as 8GiB, 512MiB or 16GB (units B, KiB, MiB, "
                          f"GiB, TiB, KB, MB, GB, TB), got {text!r}", flag=flag)
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def format_size(num_bytes):
    """Bytes in binary units: 1536 -> '1.5 KiB', 3 * 2**30 -> '3.00 GiB'."""
    for unit, size in (('GiB', 2 ** 30), ('MiB', 2 ** 20), ('KiB', 2 ** 10)):
        if num_bytes >= size:
            value = num_bytes / size
            return f"{value:.2f} {unit}" if value < 10 else f"{value:.1f} {unit}"
    return f"{num_bytes} B"


def optimizer_state_copies(optimizer, momentum=0.0):
    """How many arrays of the weights' size the optimizer keeps (MXNet 1.9.1's
    ``create_state``): sgd and nag 0 without momentum, 1 with; adam 2."""
    if optimizer in ('sgd', 'nag'):
        return 1 if momentum else 0
    if optimizer == 'adam':
        return 2
    raise ConfigError(f"must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}",
                      flag='optimizer')


def _size(shape):
    return math.prod(shape) * DTYPE_BYTES


def kept_bytes(row):
    """Bytes one image leaves in memory for the backward pass at one layer of
    ``layer_table`` (its row): see the module's docstring for what is kept."""
    out, kind = _size(row['output_shape']), row['type']
    if kind == 'maxpool':
        return int(out * (1 + POOL_WORKSPACE))
    if kind == 'LRN':
        return 2 * out
    if kind.startswith('dropout-'):
        return 2 * out if float(kind.split('-', 1)[1]) > 0 else out  # rate 0: a copy, no mask
    # conv and dense (with their in-place ReLU), batchnorm, a separate activation
    return out


def activations(table):
    """[(part, bytes per image)]: the input, each block, the dense head."""
    parts = [('input', _size(table['input_shape']))]
    for block in table['blocks']:
        rows = [r for r in table['layers'] if r['block'] == block['block']]
        parts.append((f"block {block['block']}", sum(kept_bytes(r) for r in rows)))
    head = [r for r in table['layers'] if not r['block']]
    parts.append(('head', sum(kept_bytes(r) for r in head) + 2 * _size(head[-1]['output_shape'])))
    return parts  # the head's last term: the loss's softmax and its gradient


def estimate(table, batch_size, optimizer='sgd', momentum=0.0):
    """The training memory of the network ``table`` describes (``layer_table``)
    at ``batch_size`` images per device, in bytes.

    Returns {'batch_size', 'optimizer', 'momentum', 'parameters_bytes',
    'gradients_bytes', 'optimizer_states_bytes', 'activations' ([{'part',
    'bytes'}], per block, for the whole batch), 'activations_bytes',
    'backward_bytes', 'evaluation_bytes', 'fixed_bytes' (what does not grow
    with the batch), 'per_image_bytes', 'total_bytes'} (total: the sum of the
    *_bytes terms above it).
    """
    t = table['totals']
    params = t['params'] * DTYPE_BYTES
    grads = t['trainable'] * DTYPE_BYTES
    states = optimizer_state_copies(optimizer, momentum) * t['trainable'] * DTYPE_BYTES
    parts = activations(table)
    largest = max(_size(r['output_shape']) for r in table['layers'])
    per_image = sum(b for _, b in parts) + (BACKWARD + EVALUATION) * largest
    fixed = params + grads + states
    return {'batch_size': batch_size, 'optimizer': optimizer, 'momentum': momentum,
            'parameters_bytes': params, 'gradients_bytes': grads,
            'optimizer_states_bytes': states,
            'activations': [{'part': p, 'bytes': b * batch_size} for p, b in parts],
            'activations_bytes': sum(b for _, b in parts) * batch_size,
            'backward_bytes': BACKWARD * largest * batch_size,
            'evaluation_bytes': EVALUATION * largest * batch_size,
            'fixed_bytes': fixed, 'per_image_bytes': per_image,
            'total_bytes': fixed + per_image * batch_size}


def largest_batch(memory, available):
    """The largest batch whose estimate fits in ``available`` bytes (0: none)."""
    return max(0, (available - memory['fixed_bytes']) // memory['per_image_bytes'])


def with_budget(memory, available):
    """``memory`` plus 'available_bytes', 'fits' and 'largest_batch'."""
    return dict(memory, available_bytes=available, fits=memory['total_bytes'] <= available,
                largest_batch=largest_batch(memory, available))


def format_memory(memory):
    """The estimate as text lines: one per term, the activations per block."""
    line = lambda name, n, note='': f"  {name:<34} {format_size(n):>11}{note}"  # noqa: E731
    copies = optimizer_state_copies(memory['optimizer'], memory['momentum'])
    states = {0: 'keeps none', 1: 'one copy of the weights', 2: 'two copies of the weights'}
    momentum = f", momentum {memory['momentum']:g}" if memory['momentum'] else ''
    lines = [f"training memory, estimated: batch {memory['batch_size']} per device, "
             f"{memory['optimizer']}{momentum}, float32",
             line('parameters', memory['parameters_bytes']),
             line('gradients', memory['gradients_bytes']),
             line('optimizer states', memory['optimizer_states_bytes'],
                  f"  ({memory['optimizer']}{momentum} {states[copies]})"),
             line('activations kept for backward', memory['activations_bytes'])]
    lines += [line('  ' + a['part'], a['bytes']) for a in memory['activations']]
    lines += [line('backward working set', memory['backward_bytes']),
              line('evaluation buffers', memory['evaluation_bytes']),
              line('total', memory['total_bytes'],
                   f"  ({format_size(memory['fixed_bytes'])} + "
                   f"{format_size(memory['per_image_bytes'])} per image)")]
    if 'available_bytes' in memory:
        verdict = 'fits' if memory['fits'] else 'does NOT fit'
        largest = (f"the largest batch that fits: {memory['largest_batch']:,}"
                   if memory['largest_batch'] else 'no batch fits: the parameters, '
                   'gradients and optimizer states alone take more')
        lines.append(f"  in {format_size(memory['available_bytes'])}: {verdict}; {largest}")
    return '\n'.join(lines)


# Where a Linux machine says how much memory a new allocation may take.
MEMINFO = '/proc/meminfo'
CGROUP = '/sys/fs/cgroup'   # cgroup v2: a container's own limit (Docker, Colab, CI)


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def cpu_available():
    """Bytes the CPU side may still allocate: MemAvailable (the kernel's own
    estimate, page cache it can drop included), lowered to the room left under
    a cgroup v2 memory limit; free pages elsewhere; None if nothing says."""
    text = _read(MEMINFO)
    found = re.search(r'^MemAvailable:\s+(\d+) kB', text or '', re.M)
    if found:
        available = int(found.group(1)) * 1024
    else:
        try:  # not Linux (or a very old kernel): free pages, less than available
            available = os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
        except (ValueError, OSError, AttributeError):
            return None
    limit, used = _read(os.path.join(CGROUP, 'memory.max')), _read(os.path.join(CGROUP, 'memory.current'))
    if limit and used and limit.strip().isdigit() and used.strip().isdigit():
        available = min(available, max(0, int(limit) - int(used)))
    return available


def available_memory(ctx):
    """Bytes free on device ``ctx``: the GPU's free memory as MXNet reports it
    (``mx.context.gpu_memory_info``), or ``cpu_available()``; None if unknown."""
    if ctx.device_type != 'gpu':
        return cpu_available()
    import mxnet as mx
    try:
        free, _total = mx.context.gpu_memory_info(ctx.device_id)
    except mx.base.MXNetError:
        return None
    return free


def _processes(config):
    """Processes that share the global batch: the parameter server's workers
    (``DMLC_NUM_WORKER``, set by launch) or Horovod's (``HOROVOD_SIZE``, set by
    horovodrun)."""
    if config.horovod:
        return int(os.environ.get('HOROVOD_SIZE', '1'))
    if config.kvstore.startswith('dist'):
        return int(os.environ.get('DMLC_NUM_WORKER', '1'))
    return 1


def check_training(config, ctxs=None):
    """Whether training as ``config`` says fits on its devices, before anything
    is allocated. None if it fits (or no device says how much it has); else
    {'device', 'estimate_bytes', 'available_bytes', 'batch_size',
    'largest_batch'} for the first device it does not fit on, largest_batch
    being the global batch that would fit (0: none).

    ctxs: the run's devices (default: ``select_ctx(config.gpus)``); the global
    batch is split over them and over the processes of a distributed run.
    """
    ctxs = ctxs or select_ctx(config.gpus)
    shares = _processes(config) * len(ctxs)
    table = summarize(config.arch, config.ratio, config.resize,
                      scale_dense=config.scale_dense, dropout=config.dropout)
    memory = estimate(table, -(-config.batch_size // shares), config.optimizer, config.momentum)
    for ctx in ctxs:
        available = available_memory(ctx)
        if available is not None and memory['total_bytes'] > available:
            return {'device': str(ctx), 'estimate_bytes': memory['total_bytes'],
                    'available_bytes': available, 'batch_size': config.batch_size,
                    'largest_batch': largest_batch(memory, available) * shares}
    return None
