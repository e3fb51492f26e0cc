"""The "before": seed 000's code as the book runs it, for the benchmarks.

    python -m benchmarks.seed000                  # the seed's recipe, 5 epochs, d2lzh's log
    python -m benchmarks.seed000 --epochs 1 --train-samples 2560 --test-samples 1280

The seed's network verbatim (``nn.Sequential``, not hybridized) trained by
``d2lzh.train_ch5``, the data as ``d2lzh.load_data_fashion_mnist`` gives it
(per-image ``Resize`` + ``ToTensor`` in a ``DataLoader`` with 4 workers) and
MXNet's default settings: this module must not import vgg_gluon (which sets
OMP_NUM_THREADS), and whoever runs it should leave OMP_NUM_THREADS unset.
d2lzh downloads the data from a host that is unreachable here, so the IDX
files are read locally into the same dataset types (uint8 images, int32 labels).

On Python 3.12 and 3.13 (numpy 1.26) MXNet 1.9.1 cannot even be imported
without the numpy names it uses. This script gets them from the same
compatibility step as vgg_gluon, ``vgg_gluon/_compat.py``, loaded alone by path
(it sets no threads); the book's code itself is unchanged.
"""
import gzip
import importlib.util
import os
import sys

from ._args import Parser, at_least

HERE = os.path.dirname(os.path.abspath(__file__))


def load_compat():
    """Run vgg_gluon/_compat.py (numpy's removed aliases back) without importing vgg_gluon."""
    spec = importlib.util.spec_from_file_location(
        '_vgg_gluon_compat', os.path.join(os.path.dirname(HERE), 'vgg_gluon', '_compat.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


load_compat()  # before anything here imports mxnet

RECIPE = dict(ratio=4, resize=96, batch_size=128, lr=0.05)
CONV_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))


def read_fashion_mnist_numpy(split):
    """(images (n, 28, 28) uint8, labels (n,) int32) with numpy only."""
    import numpy as np
    directory = next(d for d in (os.environ.get('VGG_GLUON_DATA'),
                                 os.path.expanduser('~/.mxnet/datasets/fashion-mnist'),
                                 '/usr/share/datasets/fashion-mnist')
                     if d and os.path.exists(os.path.join(d, 't10k-labels-idx1-ubyte.gz')))
    prefix = 'train' if split == 'train' else 't10k'

    def load(name, offset):
        with gzip.open(os.path.join(directory, f'{prefix}-{name}.gz')) as f:
            return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)
    images = load('images-idx3-ubyte', 16).reshape(-1, 28, 28)
    return images, load('labels-idx1-ubyte', 8).astype(np.int32)


def seed_net(ratio=RECIPE['ratio']):
    """Seed 000's ``vgg(small_conv_arch)``, verbatim but for the ratio."""
    from mxnet.gluon import nn

    def vgg_block(num_convs, num_channels):
        blk = nn.Sequential()
        for _ in range(num_convs):
            blk.add(nn.Conv2D(num_channels, kernel_size=3, padding=1, activation='relu'))
        blk.add(nn.MaxPool2D(pool_size=2, strides=2))
        return blk

    def vgg(conv_arch):
        net = nn.Sequential()
        for (num_convs, num_channels) in conv_arch:
            net.add(vgg_block(num_convs, num_channels))
        net.add(nn.Dense(4096, activation='relu'), nn.Dropout(0.5),
                nn.Dense(4096, activation='relu'), nn.Dropout(0.5),
                nn.Dense(10))
        return net

    return vgg([(pair[0], pair[1] // ratio) for pair in CONV_ARCH])


def d2lzh_loaders(batch_size, resize, train_samples=None, test_samples=None):
    """(train_iter, test_iter) as ``d2lzh.load_data_fashion_mnist`` builds them."""
    from mxnet import nd
    from mxnet.gluon import data as gdata
    transformer = gdata.vision.transforms.Compose([
        gdata.vision.transforms.Resize(resize), gdata.vision.transforms.ToTensor()])
    loaders = []
    for split, shuffle, n in (('train', True, train_samples), ('test', False, test_samples)):
        images, labels = read_fashion_mnist_numpy(split)
        images, labels = images[:n], labels[:n]
        dataset = gdata.ArrayDataset(nd.array(images[..., None], dtype='uint8'), labels)
        loaders.append(gdata.DataLoader(dataset.transform_first(transformer), batch_size,
                                        shuffle=shuffle, num_workers=4))
    return tuple(loaders)


def main(argv=None):
    p = Parser(description=__doc__.split('\n')[0])
    p.add_argument('--epochs', type=at_least(1), default=5)
    p.add_argument('--train-samples', type=at_least(1), default=None, help='default: all 60,000')
    p.add_argument('--test-samples', type=at_least(1), default=None, help='default: all 10,000')
    args = p.parse_args(argv)
    import d2lzh as d2l
    import mxnet as mx
    from mxnet import gluon, init
    train_iter, test_iter = d2lzh_loaders(RECIPE['batch_size'], RECIPE['resize'],
                                          args.train_samples, args.test_samples)
    ctx = d2l.try_gpu()
    net = seed_net()
    net.initialize(ctx=ctx, init=init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': RECIPE['lr']})
    print('OMP_NUM_THREADS:', os.environ.get('OMP_NUM_THREADS', 'unset (MXNet default)'),
          '| mxnet', mx.__version__, flush=True)
    d2l.train_ch5(net, train_iter, test_iter, RECIPE['batch_size'], trainer, ctx, args.epochs)
    return 0


if __name__ == '__main__':
    sys.exit(main())
