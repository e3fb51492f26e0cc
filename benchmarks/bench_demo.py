"""What one request of the Inside VGG page costs, on the shipped model.

    python -m benchmarks.bench_demo                  # 20 test images, median of each part

A request, as the page serves it (without Gradio's own encoding): the top
classes, every block's feature maps, and for one unit in each block its
theoretical and its effective receptive field (one backward pass a block).
The network is the shipped ``fast`` model, hybridized as the page uses it.
Each part is timed per image; the medians are printed, with their sum.
"""
import statistics
import sys
import time

from ._args import Parser, at_least


def main(argv=None):
    p = Parser(prog='python -m benchmarks.bench_demo', description=__doc__.split('\n')[0])
    p.add_argument('--images', type=at_least(1), default=20)
    args = p.parse_args(argv)
    import mxnet as mx
    from vgg_gluon.checkpoint.zoo import load_shipped
    from vgg_gluon.data.fashion_mnist import test_split
    from vgg_gluon.training.measure import where_and_when
    from vgg_gluon.visual.fields import effective_field, theoretical_box
    from vgg_gluon.visual.inside import answer, block_views, blocks_of
    from vgg_gluon.inference.images import to_batch
    ctx = mx.cpu()
    run = load_shipped('fast', ctx=ctx)
    rows = blocks_of(run.net, run.config)
    images, _ = test_split(test_samples=args.images + 1)
    parts = {'answer': [], 'feature maps': [], 'receptive fields': []}

    def fields(image):
        X = to_batch(image[None], run.config.resize)
        for block, row in enumerate(rows, 1):
            centre = row['output_shape'][1] // 2
            theoretical_box(row, centre, centre, run.config.resize)
            effective_field(run.net, X, block, centre, centre)

    work = {'answer': lambda im: answer(run.net, run.config, im, ctx),
            'feature maps': lambda im: block_views(run.net, run.config, im, ctx),
            'receptive fields': fields}
    for name, step in work.items():
        step(images[-1])                    # warm-up: the first call builds the graph
    for image in images[:args.images]:
        for name, step in work.items():
            start = time.perf_counter()
            step(image)
            parts[name].append((time.perf_counter() - start) * 1e3)
    print(where_and_when('benchmarks.bench_demo', argv))
    total = 0.0
    for name, times in parts.items():
        median = statistics.median(times)
        total += median
        print(f"{name:<18} {median:7.1f} ms  (median of {len(times)}; {min(times):.1f}-"
              f"{max(times):.1f} ms)")
    print(f"{'one request':<18} {total:7.1f} ms  (the medians' sum)")
    return 0


if __name__ == '__main__':
    sys.exit(main())
