"""Which devices a run uses: ``--gpus`` to a list of MXNet contexts."""
import mxnet as mx

from ..errors import ConfigError


def select_ctx(gpus='auto'):
    """The devices to use, always as a list of contexts.

    'auto' -> [gpu(0)] if MXNet sees a GPU, else [cpu()]; 'cpu' -> [cpu()];
    '0,1' -> [gpu(0), gpu(1)] (ConfigError, flagged 'gpus', if absent).
    """
    ids = parse_gpus(gpus)
    available = mx.context.num_gpus()
    if ids is None:
        return [mx.gpu(0) if available else mx.cpu()]
    if not ids:
        return [mx.cpu()]
    if max(ids) >= available:
        raise ConfigError(f"asked for GPU {max(ids)} but {available} GPU(s) are present",
                          flag='gpus')
    return [mx.gpu(i) for i in ids]


def check_amp(amp, ctxs):
    """AMP needs GPUs: MXNet AMP's float16 kernels are GPU kernels."""
    if amp and any(c.device_type != 'gpu' for c in ctxs):
        raise ConfigError("float16 training needs a GPU, but this run is on the CPU; drop "
                          "--amp or pass --gpus 0 on a machine with a GPU", flag='amp')


def parse_gpus(text):
    """'auto' -> None, 'cpu' -> [], '0,1' -> [0, 1]; ConfigError otherwise."""
    if text == 'auto':
        return None
    if text == 'cpu':
        return []
    try:
        ids = [int(part) for part in text.split(',')]
    except ValueError:
        ids = [-1]
    if any(i < 0 for i in ids) or len(set(ids)) != len(ids):
        raise ConfigError(f"must be auto, cpu or distinct GPU ids like 0,1; got {text!r}",
                          flag='gpus')
    return ids


def check_quantization(precision, gpus):
    """The --gpus to use for ``precision``: int8 runs on the CPU only (oneDNN's
    quantized operators), so 'auto' becomes 'cpu' and a GPU is refused
    (ConfigError naming --precision) before any GPU is touched."""
    if precision != 'int8':
        return gpus
    if parse_gpus(gpus):
        raise ConfigError(f"int8 runs on the CPU only (MXNet's quantized operators are "
                          f"oneDNN's), but --gpus {gpus} asks for a GPU: give --gpus cpu or "
                          f"--precision fp32", flag='precision')
    return 'cpu'
