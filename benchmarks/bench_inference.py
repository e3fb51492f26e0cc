"""Inference speed of one trained network four ways: plain fp32, fused fp32, int8, onnxruntime.

    python -m benchmarks.bench_inference                  # the shipped fast model
    python -m benchmarks.bench_inference runs/book --rounds 7

Images per second at batch 1 and batch 256 on real test images, for

* plain fp32: the Gluon network hybridized (static_alloc, static_shape);
* fused fp32: ``--precision fp32``, oneDNN's partitioned graph (``optimize_for``);
* int8: ``--precision int8``, post-training quantization (calibrated on
  ``--calib-images`` training images);
* onnxruntime: the ONNX file ``export`` writes, on onnxruntime's CPU provider
  with as many threads as MXNet.

The paths take turns within every round (each path at each batch size for
``--seconds``), so a machine that gets busier slows all of them alike; the
median of the rounds is printed, with the ratio to plain fp32 and how often
each path's top class agrees with plain fp32's on the 256 images.
"""
import json
import os
import statistics
import sys
import tempfile
import time

from ._args import Parser, at_least, positive_number

BATCHES = (1, 256)
PATHS = ('plain fp32', 'fused fp32', 'int8', 'onnxruntime')


def build_parser():
    p = Parser(prog='python -m benchmarks.bench_inference', description=__doc__.split('\n')[0])
    p.add_argument('run_dir', nargs='?', default=None, help='a run directory (default: --model)')
    p.add_argument('--model', default='fast', help='a shipped model (without RUN_DIR)')
    p.add_argument('--rounds', type=at_least(1), default=5)
    p.add_argument('--seconds', type=positive_number, default=2.0,
                   help='how long each path runs at each batch size in a round')
    p.add_argument('--calib-images', type=at_least(1), default=512)
    p.add_argument('--json', action='store_true', help='print JSON instead of the table')
    return p


def _load(args, ctx):
    from vgg_gluon.checkpoint.reader import load_model
    from vgg_gluon.checkpoint.zoo import load_shipped
    if args.run_dir is not None:
        return load_model(args.run_dir, ctx=ctx)
    return load_shipped(args.model, ctx=ctx)


def _onnx_session(net, config, ctx, folder):
    """An onnxruntime session over the network exported as ``export`` does."""
    import onnxruntime
    from vgg_gluon.inference.formats import export_mxnet, export_onnx
    symbol_file, params_file = export_mxnet(net, config, os.path.join(folder, 'vgg'), ctx)
    path = export_onnx(symbol_file, params_file, config, os.path.join(folder, 'vgg.onnx'))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get('OMP_NUM_THREADS', '0') or 0)
    return onnxruntime.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def build_paths(args, X):
    """{path: function (batch NDArray) -> logits as NumPy} for the four paths."""
    import mxnet as mx
    from vgg_gluon.inference.precision import for_inference
    ctx = mx.cpu()
    plain = _load(args, ctx)
    config = plain.config
    plain.net.hybridize(static_alloc=True, static_shape=True)
    fused = for_inference(_load(args, ctx).net, config, ctx, 'fp32')
    int8 = for_inference(_load(args, ctx).net, config, ctx, 'int8', args.calib_images)
    with tempfile.TemporaryDirectory(prefix='bench-inference-') as folder:
        session = _onnx_session(_load(args, ctx).net, config, ctx, folder)   # reads the file
    name = session.get_inputs()[0].name
    paths = {'plain fp32': lambda x: plain.net(x).asnumpy(),
             'fused fp32': lambda x: fused(x).asnumpy(),
             'int8': lambda x: int8(x).asnumpy(),
             'onnxruntime': lambda x: session.run(None, {name: x.asnumpy()})[0]}
    return paths, config


def images_per_second(run, x, seconds):
    """Images per second of ``run`` on batch ``x`` over about ``seconds`` (at least one call)."""
    calls, start = 0, time.perf_counter()
    while True:
        run(x)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls * x.shape[0] / elapsed


def main(argv=None):
    args = build_parser().parse_args(argv)
    import vgg_gluon  # noqa: F401  (OMP_NUM_THREADS before mxnet loads)
    from vgg_gluon.data.fashion_mnist import resize_images, test_split, to_tensor
    from vgg_gluon.training.measure import where_and_when
    images, _ = test_split(test_samples=max(BATCHES))
    header = where_and_when('benchmarks.bench_inference', argv)
    probe = to_tensor(images[:1])
    paths, config = build_paths(args, probe)
    X = to_tensor(resize_images(images, config.resize))
    batches = {b: X[:b] for b in BATCHES}
    reference = paths['plain fp32'](X).argmax(axis=1)
    agree = {p: float((run(X).argmax(axis=1) == reference).mean()) for p, run in paths.items()}
    for run in paths.values():          # warm-up at both sizes: graphs and memory built
        for x in batches.values():
            run(x)
    rates = {p: {b: [] for b in BATCHES} for p in PATHS}
    for _ in range(args.rounds):
        for b, x in batches.items():
            for p in PATHS:
                rates[p][b].append(images_per_second(paths[p], x, args.seconds))
    median = {p: {b: statistics.median(rates[p][b]) for b in BATCHES} for p in PATHS}
    source = args.run_dir or f"shipped model {args.model}"
    if args.json:
        print(json.dumps({'model': source, 'arch': config.arch, 'ratio': config.ratio,
                          'resize': config.resize, 'rounds': args.rounds,
                          'images_per_second': {p: {str(b): median[p][b] for b in BATCHES}
                                                for p in PATHS},
                          'agreement_with_plain': agree}, indent=1))
        return 0
    print(header)
    print(f"# {source}: {config.arch}/{config.ratio} at {config.resize} px; images per second, "
          f"median of {args.rounds} interleaved rounds of {args.seconds:g} s per path and batch; "
          f"int8 calibrated on {args.calib_images} training images")
    print(f"{'path':<13}{'batch 1':>10}{'x plain':>9}{'batch 256':>11}{'x plain':>9}"
          f"{'top-1 = plain':>15}")
    for p in PATHS:
        cells = ''.join(f"{median[p][b]:>{10 if b == 1 else 11}.0f}"
                        f"{median[p][b] / median['plain fp32'][b]:>8.2f}x" for b in BATCHES)
        print(f"{p:<13}{cells}{agree[p]:>15.4f}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
