"""Inference precision (``--precision``): fp32 through oneDNN's graph fusion, or int8.

fp32
    On the CPU the network is partitioned by MXNet's oneDNN subgraph backend
    (``optimize_for(x, backend='MKLDNN')``): each convolution with its
    BatchNorm and ReLU, and each Dense with its ReLU, becomes one fused
    operator, and BatchNorm is folded into the convolution's weights. The
    logits agree with plain hybridization to within float rounding (about
    4e-6 here). It is used because it is faster on the CPU than plain static
    hybridization at batch 1 and at batch 256 (``benchmarks/bench_inference.py``
    measures by how much; its committed results name the CPU);
    on a GPU there is no such backend and the network is hybridized as before.
int8
    MXNet's post-training quantization (``quantize_net_v2``): weights and
    activations as 8-bit integers, oneDNN's int8 kernels (CPU only; a GPU is
    refused before any GPU is touched, ``runtime.devices.check_quantization``).
    Calibrated on ``--calib-images`` training images (never test images),
    chosen by a seeded draw, with the 'naive' mode: each layer's min and max
    over the calibration images. 'entropy' (KL-divergence thresholds) was
    measured worse on the shipped ``fast`` model (several points of test
    accuracy below naive's, which matches fp32's) and needs scipy besides.

The quantized network is cached in ``ROOT/quantized/`` (ROOT: the run
directory, or for a shipped model ``--out`` or ``runs/NAME-int8``, never the
installed package)::

    quantized/classifier-symbol.json   the quantized graph (MXNet's symbol JSON)
    quantized/classifier-0000.params   its parameters (an NDArray file)
    quantized/dense-...                testtime's dense-evaluation network
    quantized/manifest.json            per network: the calibration (images,
                                       seed, the indices' sha256, mode, split),
                                       MXNet's version, the input size, the
                                       fp32 parameters' sha256, each file's
                                       size and sha256

A cache whose entry does not match the network and calibration asked for
(new parameters, another number of images, another MXNet) is rebuilt; files
that do not match their digests are never loaded. Loading reads JSON and an
NDArray file only (nothing is unpickled). Writing holds the writer lock of
ROOT; a ROOT that cannot be written (or that another process is writing)
skips the cache, says so in one line, and the quantized network is used from
memory.
"""
import hashlib
import json
import os
import shutil
import tempfile
import warnings

import numpy as np
import mxnet as mx
from mxnet import gluon

from ..checkpoint.reader import read_json
from ..data.fashion_mnist import read_fashion_mnist, resize_images, to_tensor
from ..errors import DataError, Error, RunDirBusy
from ..runtime.atomic import atomic_write_text, file_digest, link_or_copy
from ..runtime.lock import writer_lock

PRECISIONS = ('fp32', 'int8')
DEFAULT_CALIB_IMAGES = 512
TRAIN_IMAGES = 60000            # the most --calib-images can take: the training split
CALIB_MODE = 'naive'
CALIB_SEED = 0
CALIB_BATCH = 64
CACHE_DIR = 'quantized'
CACHE_FORMAT = 'vgg_gluon-quantized'
CACHE_VERSION = 1
MANIFEST = 'manifest.json'
MANIFEST_LIMIT = 1 << 20
FUSION_BACKEND = 'MKLDNN'       # mxnet 1.9.1's name for the oneDNN subgraph backend


def check_calib_images(precision, calib_images):
    """The number of calibration images to use (None for fp32); Error naming
    --calib-images when it is given with fp32 or is outside 1..60000."""
    if precision not in PRECISIONS:
        raise Error(f"must be one of {', '.join(PRECISIONS)}, got {precision!r}", flag='precision')
    if precision == 'fp32':
        if calib_images is not None:
            raise Error("calibrates the int8 network only: add --precision int8 or drop it",
                        flag='calib_images')
        return None
    n = DEFAULT_CALIB_IMAGES if calib_images is None else calib_images
    if not 1 <= n <= TRAIN_IMAGES:
        raise Error(f"must be an integer from 1 to {TRAIN_IMAGES} (training images), got {n}",
                    flag='calib_images')
    return n


def fuse(net, x):
    """Partition ``net`` in place for oneDNN on the CPU (plain static hybridization
    on a GPU); ``x`` (batch, channels, h, w) on the network's device gives the
    input shape. Returns ``net``."""
    if x.context.device_type == 'cpu':
        net.optimize_for(x, backend=FUSION_BACKEND, static_alloc=True, static_shape=True)
    else:
        net.hybridize(static_alloc=True, static_shape=True)
    return net


def params_sha256(net):
    """sha256 of the network's parameters as loaded: each array's name-free
    shape, dtype and bytes, in the network's order (the cache's key)."""
    h = hashlib.sha256()
    for param in net.collect_params().values():
        value = param.data(param.list_ctx()[0]).asnumpy()
        h.update(f"{value.shape}{value.dtype}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


def calibration_indices(n, seed=CALIB_SEED, total=TRAIN_IMAGES):
    """``n`` distinct training-image indices, sorted: a seeded draw, so that a cache
    records which images calibrated it."""
    return np.sort(np.random.RandomState(seed).choice(total, n, replace=False))


def calibration(n, input_size):
    """What the manifest records of a calibration with ``n`` images."""
    indices = calibration_indices(n)
    return {'split': 'train', 'images': n, 'seed': CALIB_SEED, 'mode': CALIB_MODE,
            'input_size': input_size,
            'indices_sha256': hashlib.sha256(indices.astype('<i8').tobytes()).hexdigest()}


def calibration_batch(data_dir, n, size, ctx=None):
    """(n, 1, size, size) float32 NDArray: the drawn training images, as in training."""
    images, _ = read_fashion_mnist(data_dir, splits=('train',))['train']
    if len(images) != TRAIN_IMAGES:
        raise DataError(f"the training split has {len(images)} images, expected {TRAIN_IMAGES}",
                        flag='data_dir')
    return to_tensor(resize_images(images[calibration_indices(n)], size), ctx)


def quantize(net, X, ctx):
    """The int8 SymbolBlock of the fp32 ``net``, calibrated ('naive') on X
    (n, 1, h, w). ``quantize_net_v2`` hybridizes the network it exports; it
    is set back to imperative, so that a caller keeping it (the page's
    gradients) has it as loaded."""
    from mxnet.contrib.quantization import quantize_net_v2
    # the calibration's executor announces the subgraph backend on stderr otherwise;
    # a command's own line says what was done (read by MXNet at each bind)
    os.environ.setdefault('MXNET_SUBGRAPH_VERBOSE', '0')
    calib = mx.io.NDArrayIter(X.as_in_context(mx.cpu()), batch_size=min(CALIB_BATCH, len(X)))
    with warnings.catch_warnings():  # MXNet warns of the label-free graph's unused inputs
        warnings.simplefilter('ignore')
        qnet = quantize_net_v2(net, quantized_dtype='auto', quantize_mode='full',
                               calib_mode=CALIB_MODE, calib_data=calib,
                               num_calib_examples=len(X), ctx=ctx)
    net.hybridize(active=False)
    return qnet


def _read_manifest(path):
    """{kind: entry} of a cache manifest; {} if there is none or it is not ours."""
    try:
        manifest = read_json(path, MANIFEST_LIMIT)
    except (OSError, ValueError, RecursionError):
        return {}
    if (not isinstance(manifest, dict) or manifest.get('format') != CACHE_FORMAT
            or manifest.get('format_version') != CACHE_VERSION
            or not isinstance(manifest.get('networks'), dict)):
        return {}
    return manifest['networks']


def _files(kind):
    return f'{kind}-symbol.json', f'{kind}-0000.params'


def _expected(kind, source_sha256, calib):
    return {'kind': kind, 'mxnet': mx.__version__, 'params_sha256': source_sha256,
            'calibration': calib, 'quantized_dtype': 'auto'}


def load_cached(cache, kind, expected, ctx):
    """The cached int8 SymbolBlock of ``kind`` if its manifest entry is ``expected``
    and its files match their digests; else None (to be rebuilt)."""
    entry = _read_manifest(os.path.join(cache, MANIFEST)).get(kind)
    if not isinstance(entry, dict) or {k: entry.get(k) for k in expected} != expected:
        return None
    symbol_file, params_file = (os.path.join(cache, name) for name in _files(kind))
    digests = entry.get('files')
    for name in _files(kind):
        path = os.path.join(cache, name)
        if (not isinstance(digests, dict) or not os.path.isfile(path) or os.path.islink(path)
                or file_digest(path) != digests.get(name)):
            return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            return gluon.SymbolBlock.imports(symbol_file, ['data'], params_file, ctx=ctx)
    except (mx.base.MXNetError, AssertionError, ValueError, KeyError):
        return None


def save_cached(root, kind, qnet, expected, x):
    """Write ``qnet`` into ROOT/quantized/ under ROOT's writer lock, the manifest
    entry last; ``x`` (1, 1, h, w) is an input of its shape. OSError or RunDirBusy if ROOT cannot be written now."""
    cache = os.path.join(root, CACHE_DIR)
    os.makedirs(cache, exist_ok=True)
    with writer_lock(root):
        if os.path.islink(cache):
            raise OSError(f"{cache} is a symbolic link")
        tmp = tempfile.mkdtemp(prefix='.quantize-', dir=cache)
        try:
            qnet.hybridize(static_alloc=True, static_shape=True)
            qnet(x)   # export writes the graph (and its parameters) of a network that has run
            qnet.export(os.path.join(tmp, kind), epoch=0)
            digests = {}
            for name in _files(kind):
                link_or_copy(os.path.join(tmp, name), os.path.join(cache, name))
                digests[name] = file_digest(os.path.join(cache, name))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        networks = _read_manifest(os.path.join(cache, MANIFEST))
        networks[kind] = dict(expected, files=digests)
        atomic_write_text(os.path.join(cache, MANIFEST), json.dumps(
            {'format': CACHE_FORMAT, 'format_version': CACHE_VERSION, 'networks': networks},
            indent=1, sort_keys=True))
    return cache


def int8_network(net, config, ctx, calib_images, data_dir=None, root=None, kind='classifier',
                 log=None):
    """The int8 network of ``net`` (a SymbolBlock, hybridized), from ROOT's cache
    when it is current, else quantized and cached; ``log`` gets one line on
    what was done (reused, built, or why the cache was skipped)."""
    log = log or (lambda line: None)
    calib = calibration(calib_images, config.resize)
    expected = _expected(kind, params_sha256(net), calib)
    cache = os.path.join(root, CACHE_DIR) if root else None
    qnet = load_cached(cache, kind, expected, ctx) if cache else None
    if qnet is not None:
        log(f"int8: the quantized {kind} network cached in {cache} is current; reusing it")
    else:
        X = calibration_batch(data_dir if data_dir is not None else config.data_dir,
                              calib_images, config.resize)
        qnet = quantize(net, X, ctx)
        done = f"int8: quantized the {kind} network ({calib_images} training images, {CALIB_MODE})"
        if root is None:
            log(done + "; not cached")
        else:
            try:
                log(done + f", cached in {save_cached(root, kind, qnet, expected, X[:1])}")
            except (OSError, RunDirBusy) as err:
                reason = err.strerror if isinstance(err, OSError) and err.strerror else err
                log(done + f"; the cache is skipped: cannot write {os.path.join(root, CACHE_DIR)}"
                    f" ({reason}); going on without it")
    qnet.hybridize(static_alloc=True, static_shape=True)
    return qnet


def for_inference(net, config, ctx, precision='fp32', calib_images=None, data_dir=None,
                  root=None, kind='classifier', log=None):
    """``net`` ready for inference at ``precision``: fp32 fused in place (``fuse``),
    or int8 (``int8_network``). The result maps (batch, 1, h, w) to logits."""
    n = check_calib_images(precision, calib_images)
    if precision == 'fp32':
        return fuse(net, mx.nd.zeros((1, 1, config.resize, config.resize), ctx=ctx))
    if ctx.device_type != 'cpu':
        raise Error("int8 runs on the CPU only (oneDNN's quantized operators): give --gpus cpu",
                    flag='precision')
    return int8_network(net, config, ctx, n, data_dir, root, kind, log)

