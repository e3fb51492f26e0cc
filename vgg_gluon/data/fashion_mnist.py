"""Fashion-MNIST from its IDX files, resized once, served in batches.

Where the files are looked for, in order: an explicit directory, then
``$VGG_GLUON_DATA``, ``~/.mxnet/datasets/fashion-mnist``, and
``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``).
Only when none holds them does Gluon download them.

Why not ``gluon.data.vision.FashionMNIST`` + ``DataLoader`` as d2lzh does:
Gluon checks the files' SHA-1, which Debian's gzip files fail although the
contents are identical, and per-image ``Resize`` + ``ToTensor`` in worker
processes is the slowest way on 2 cores. Resizing all images once as one
batch (OpenCV bilinear, as ``Resize`` uses) takes about 1.5 s for 60,000
images, then each batch is a uint8 gather and one cast.
"""
import gzip
import os
import struct
import zlib

import numpy as np
import mxnet as mx

from ..errors import DataError

FILES = {
    'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 60000),
    'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte', 10000),
}
IMAGE_MAGIC, LABEL_MAGIC = 0x00000803, 0x00000801
IMAGE_SIZE = 28
NUM_CLASSES = 10
TEXT_LABELS = ('t-shirt', 'trouser', 'pullover', 'dress', 'coat',
               'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot')
DEFAULT_DIRS = (os.path.join('~', '.mxnet', 'datasets', 'fashion-mnist'),
                '/usr/share/datasets/fashion-mnist')


def _find_file(directory, stem):
    """``stem`` or ``stem.gz`` in ``directory``, or None."""
    for name in (stem, stem + '.gz'):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def has_dataset(directory):
    """True when ``directory`` holds all four Fashion-MNIST files."""
    return all(_find_file(directory, stem) for images, labels, _ in FILES.values()
               for stem in (images, labels))


def find_data_dir(data_dir=None):
    """The directory to read, searched in the documented order.

    An explicit ``data_dir`` must exist and hold the files (DataError otherwise);
    if no default location has them, Gluon downloads them into the mxnet one.
    """
    if data_dir is not None:
        data_dir = os.path.expanduser(data_dir)
        if not os.path.isdir(data_dir):
            raise DataError(f"data directory {data_dir} does not exist")
        missing = [stem for images, labels, _ in FILES.values() for stem in (images, labels)
                   if not _find_file(data_dir, stem)]
        if missing:
            raise DataError(f"data directory {data_dir} lacks {', '.join(missing)} (.gz or raw)")
        return data_dir
    candidates = [os.environ.get('VGG_GLUON_DATA')] + [os.path.expanduser(d) for d in DEFAULT_DIRS]
    for directory in filter(None, candidates):
        if has_dataset(directory):
            return directory
    return download(os.path.expanduser(DEFAULT_DIRS[0]))


def download(root):
    """Fetch the data set with Gluon's own downloader (needs the internet)."""
    try:
        for train in (True, False):
            mx.gluon.data.vision.FashionMNIST(root=root, train=train)
    except Exception as err:  # network errors come in many types
        raise DataError(f"Fashion-MNIST not found locally and the download failed ({err}); "
                        f"install Debian's dataset-fashion-mnist or pass --data-dir") from None
    return root


def _open(path):
    """The file for reading, through gzip when it starts with gzip's magic bytes."""
    f = open(path, 'rb')
    if f.read(2) == b'\x1f\x8b':
        f.close()
        return gzip.open(path, 'rb')
    f.seek(0)
    return f


def read_idx(path, magic, count=None):
    """One IDX file as a uint8 array, its header and length checked.

    Images (magic 0x803) -> (n, 28, 28); labels (0x801) -> (n,) in 0..9.
    Streamed: the header is read and checked first, then at most the size it
    declares plus one byte, so a gzip bomb or a file with trailing data is
    refused without inflating it.
    """
    try:
        with _open(path) as f:
            dims, header = _read_header(f, path, magic, count)
            body = int(np.prod(dims))
            data = f.read(body + 1)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: cannot read ({err}); the file is truncated or corrupt") from None
    if len(data) != body:
        raise DataError(f"{path}: {'more' if len(data) > body else header + len(data)} bytes, "
                        f"expected {header + body} (the file is truncated or has trailing data)")
    array = np.frombuffer(data, dtype=np.uint8).reshape(dims)
    if len(dims) == 1 and array.max(initial=0) >= NUM_CLASSES:
        raise DataError(f"{path}: label {array.max()} outside 0..9")
    return array


def _read_header(f, path, magic, count):
    """(dims, header bytes) of an IDX stream, checked against what is expected."""
    ndim = 3 if magic == IMAGE_MAGIC else 1
    header = 4 + 4 * ndim
    data = f.read(header)
    if len(data) < header:
        raise DataError(f"{path}: {len(data)} bytes is too short for an IDX header")
    found, *dims = struct.unpack('>%dI' % (1 + ndim), data)
    if found != magic:
        raise DataError(f"{path}: magic number 0x{found:08x}, expected 0x{magic:08x}")
    if count is not None and dims[0] != count:
        raise DataError(f"{path}: header says {dims[0]} items, expected {count}")
    if ndim == 3 and dims[1:] != [IMAGE_SIZE, IMAGE_SIZE]:
        raise DataError(f"{path}: images are {dims[1]}x{dims[2]}, expected 28x28")
    return dims, header


def read_fashion_mnist(data_dir=None, splits=('train', 'test')):
    """{'train': (images, labels), 'test': (images, labels)}, uint8, checked;
    only the ``splits`` asked for are read."""
    directory = find_data_dir(data_dir)
    read = {}
    for split in splits:
        images, labels, count = FILES[split]
        read[split] = (read_idx(_find_file(directory, images), IMAGE_MAGIC, count),
                       read_idx(_find_file(directory, labels), LABEL_MAGIC, count))
    return read


def resize_images(images, size, chunk=10000):
    """(n, h, w) uint8 -> (n, size, size) uint8, bilinear as Gluon's ``Resize``.

    One batched ``mx.nd.image.resize`` call per chunk: the same OpenCV kernel
    as d2lzh's per-image transform, about 10x faster than image by image.
    """
    if size is None or size == images.shape[1]:
        return images
    out = np.empty((len(images), size, size), dtype=np.uint8)
    for start in range(0, len(images), chunk):
        batch = mx.nd.array(images[start:start + chunk, :, :, None], dtype='uint8')
        out[start:start + chunk] = mx.nd.image.resize(batch, size=size).asnumpy()[..., 0]
    return out


def to_tensor(images, ctx=None):
    """(n, h, w) uint8 NumPy images -> (n, 1, h, w) float32 NDArray in [0, 1].

    Exactly ``ToTensor``'s x / 255. The uint8 array is copied to the device
    and cast and divided there, in MXNet's engine: asynchronous, and a
    quarter of the bytes to copy.
    """
    X = mx.nd.array(images[:, None], ctx=ctx or mx.cpu(), dtype='uint8')
    return X.astype('float32') / 255


class BatchIter:
    """Batches ``(X, y)`` of a uint8 image array, shuffled per epoch if asked.

    X: (batch, 1, h, w) float32 in [0, 1], like ``ToTensor``; y: (batch,) int32.
    The last batch keeps the remainder (d2lzh's ``last_batch='keep'``).
    Epoch k's order depends only on (seed, k), so a resumed run sees the same
    batches as an uninterrupted one: ``set_epoch(k)`` before iterating.
    """

    def __init__(self, images, labels, batch_size, shuffle=False, seed=None, augment=None):
        self.images, self.labels = images, labels.astype(np.int32)
        self.batch_size, self.shuffle = batch_size, shuffle
        self.seed = 0 if seed is None else seed
        self.epoch = 0
        # augment(images (b, h, w) uint8, RandomState) -> images (augment.make_augment)
        self.augment = augment
        self.rank, self.num_workers = 0, 1
        # called as on_batch(epoch, batch) (both 1-based) once a batch has been
        # used, i.e. when the next is asked for (progress reports to the launcher)
        self.on_batch = None

    def shard(self, rank, num_workers):
        """Serve only positions ``rank::num_workers`` of every (global) batch.

        W workers with shards 0..W-1 together see exactly the batches of one
        unsharded iterator, in the same (seed, epoch) order. A worker whose part
        of a batch is empty skips that batch. Returns self.
        """
        self.rank, self.num_workers = rank, num_workers
        return self

    def set_epoch(self, epoch):
        """Make the next pass use epoch ``epoch``'s order (0-based)."""
        self.epoch = epoch

    def __len__(self):
        return -(-len(self.images) // self.batch_size)

    @property
    def num_samples(self):
        return len(self.images)

    def global_batches(self):
        """Each global batch's image indices, in this epoch's order (then the next epoch).

        Yields a slice (unshuffled) or a sorted index array: the batch of one
        unsharded iterator. Subclasses draw per-batch randomness from these,
        so that every worker draws what one process draws, then ``own`` it.
        """
        n = len(self.images)
        order = None
        if self.shuffle:
            order = np.random.RandomState([self.seed, self.epoch]).permutation(n)
        self.epoch += 1
        for i, start in enumerate(range(0, n, self.batch_size)):
            if order is None:
                yield slice(start, start + self.batch_size)
            else:
                yield np.sort(order[start:start + self.batch_size])  # sorted gathers are faster
            if self.on_batch is not None:
                self.on_batch(self.epoch, i + 1)

    def own(self, idx):
        """This worker's share (positions ``rank::num_workers``) of a global batch's indices."""
        if self.num_workers == 1:
            return idx
        if isinstance(idx, slice):
            idx = np.arange(*idx.indices(len(self.images)))
        return idx[self.rank::self.num_workers]

    def __iter__(self):
        # augmentation's own stream, drawn per global batch before sharding, so the
        # batch order stays the book's and every worker sees the same augmented batch
        rng = np.random.RandomState([self.seed, self.epoch, 2]) if self.augment else None
        for idx in self.global_batches():
            images, labels = self.images[idx], self.labels[idx]
            if rng is not None:
                images = self.augment(images, rng)
            if self.num_workers > 1:  # this worker's share of the global batch
                images, labels = (images[self.rank::self.num_workers],
                                  labels[self.rank::self.num_workers])
                if not len(labels):
                    continue  # no share of this (last) batch for this worker
            yield to_tensor(images), mx.nd.array(labels, dtype='int32')


def load_data_fashion_mnist(batch_size, resize=None, root=None, train_samples=None,
                            test_samples=None, seed=None, augment=None):
    """The book's ``load_data_fashion_mnist``: (train_iter, test_iter).

    resize: output side in pixels (None keeps 28). root: data directory
    (None searches the default places). train_samples/test_samples: use the
    first n images only. seed: shuffling seed of the training iterator.
    augment: a function applied to every training batch (``augment.make_augment``).
    """
    splits = read_fashion_mnist(root)
    iters = []
    for split, n, shuffle in (('train', train_samples, True), ('test', test_samples, False)):
        images, labels = first_n(splits[split], n, flag=f'{split}_samples')
        iters.append(BatchIter(resize_images(images, resize), labels, batch_size,
                               shuffle=shuffle, seed=seed, augment=augment if shuffle else None))
    return tuple(iters)


def first_n(split, n, flag):
    """The first ``n`` (images, labels) of a split (all for None); DataError
    naming ``flag`` when n is not from 1 to the split's size."""
    images, labels = split
    if n is None:
        return images, labels
    if not 1 <= n <= len(images):
        raise DataError(f"must be from 1 to {len(images)} (the split's size), got {n}", flag=flag)
    return images[:n], labels[:n]


def test_split(data_dir=None, test_samples=None):
    """The first ``test_samples`` test (images, labels), uint8 (n, 28, 28) and (n,),
    without reading the training split; DataError naming --test-samples."""
    split = read_fashion_mnist(data_dir, splits=('test',))['test']
    return first_n(split, test_samples, flag='test_samples')
