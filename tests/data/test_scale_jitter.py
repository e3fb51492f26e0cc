"""Scale jittering: shapes, the range of S, crops, determinism, the train flag."""
import numpy as np
import pytest

import vgg_gluon  # noqa: F401
from vgg_gluon import train
from vgg_gluon.training import runner as training
from vgg_gluon.data.augment import make_augment
from vgg_gluon.config import Config, ConfigError
from vgg_gluon.data.fashion_mnist import BatchIter, resize_images
from vgg_gluon.data.scale_jitter import ScaleJitterIter, load_data_jittered


@pytest.fixture(scope='module')
def slice_(fmnist):
    images, labels = fmnist['train']
    return images[:300], labels[:300]


def test_shapes_and_range(slice_):
    images, labels = slice_
    it = ScaleJitterIter(images, labels, 64, crop=32, s_min=32, s_max=48, seed=1)
    seen = []
    batches = list(it)
    assert len(batches) == len(it) == 5
    for X, y in batches:
        assert X.shape[1:] == (1, 32, 32) and X.dtype == np.float32 and X.shape[0] == y.shape[0]
        assert 0 <= X.min().asscalar() and X.max().asscalar() <= 1
    # the scales of one epoch, drawn again from the same stream
    for _ in range(3):
        for _ in it:
            seen.extend(it.last_scales)
    assert min(seen) >= 32 and max(seen) <= 48
    assert {32, 48} <= set(seen) and len(set(seen)) == 17   # both ends and all between
    assert sum(b[0].shape[0] for b in batches) == 300


def test_same_order_as_batchiter_and_deterministic(slice_):
    images, labels = slice_
    plain = BatchIter(images, labels, 50, shuffle=True, seed=3)
    jit = ScaleJitterIter(images, labels, 50, 28, 28, 36, seed=3)
    for epoch in (0, 4):
        plain.set_epoch(epoch)
        jit.set_epoch(epoch)
        a = [y.asnumpy() for _, y in plain]
        b = [(X.asnumpy(), y.asnumpy()) for X, y in jit]
        assert all(np.array_equal(ya, yb) for ya, (_, yb) in zip(a, b))
        jit.set_epoch(epoch)
        again = [X.asnumpy() for X, _ in jit]
        assert all(np.array_equal(x, xb) for x, (xb, _) in zip(again, b))
    jit.set_epoch(1)
    assert not np.array_equal(next(iter(jit))[0].asnumpy(), b[0][0])


def test_crops_are_windows_of_the_rescaled_image(slice_):
    images, labels = slice_
    # S = crop: the whole rescaled image, exactly what resize_images gives
    whole = ScaleJitterIter(images[:20], labels[:20], 20, 32, 32, 32, shuffle=False)
    X, _ = next(iter(whole))
    np.testing.assert_array_equal((X.asnumpy()[:, 0] * 255).round(), resize_images(images[:20], 32))
    # S > crop: every output is some 32x32 window of the image rescaled to its S
    it = ScaleJitterIter(images[:20], labels[:20], 20, 32, 40, 44, shuffle=False, seed=5)
    X = (next(iter(it))[0].asnumpy()[:, 0] * 255).round().astype(np.uint8)
    for j, s in enumerate(it.last_scales):
        big = resize_images(images[j:j + 1], int(s))[0]
        windows = np.lib.stride_tricks.sliding_window_view(big, (32, 32))
        assert (windows == X[j]).all(axis=(2, 3)).any()


def test_validation():
    assert Config(resize=32, scale_jitter=[32, 64]).validate().scale_jitter == [32, 64]
    for bad in ([31, 40], [40, 36], [32, 200], [32], '32,40', [32.0, 40]):
        with pytest.raises(ConfigError) as err:
            Config(resize=32, scale_jitter=bad).validate()
        assert err.value.flag == 'scale_jitter'


@pytest.mark.parametrize('value', ['40', '30,40', '48,40', 'a,b', '32,1000'])
def test_train_cli_rejects_bad_jitter(value, tmp_path, capsys):
    out = tmp_path / 'run'
    try:
        status = train.main(['--resize', '32', '--scale-jitter', value, '--out', str(out)])
    except SystemExit as exit_info:
        status = exit_info.code
    err = capsys.readouterr().err
    assert status == 2 and '--scale-jitter' in err and err.count('\n') == 1
    assert not out.exists()


def test_sharded_workers_see_one_process_images(slice_):
    """W workers (BatchIter.shard) jointly get exactly one process's jittered
    images: same image, same S, same crop, each by exactly one worker."""
    images, labels = slice_[0][:130], slice_[1][:130]   # last batch of 2: worker 2 skips it
    whole = ScaleJitterIter(images, labels, 32, 28, 28, 40, seed=4)
    shards = [ScaleJitterIter(images, labels, 32, 28, 28, 40, seed=4).shard(r, 3)
              for r in range(3)]
    for it in [whole] + shards:
        it.set_epoch(2)
    batches = [(X.asnumpy(), y.asnumpy()) for X, y in whole]
    parts = [[(X.asnumpy(), y.asnumpy()) for X, y in it] for it in shards]
    assert [len(p) for p in parts] == [5, 5, 4]
    for i, (X, y) in enumerate(batches):
        for r, part in enumerate(parts):
            if i < len(part):
                np.testing.assert_array_equal(part[i][0], X[r::3])
                np.testing.assert_array_equal(part[i][1], y[r::3])
        assert sum(len(p[i][1]) for p in parts if i < len(p)) == len(y)


def test_jittered_test_split_is_sharded_too(fmnist_dir):
    from vgg_gluon.training.distributed import Workers
    train_iter, test_iter = load_data_jittered(20, 32, 32, 40, root=fmnist_dir,
                                               train_samples=60, test_samples=50, seed=1)
    Workers('dist_sync', 1, 2).shard(train_iter, test_iter, 20)
    assert sum(len(y) for _, y in train_iter) == 30
    assert sum(len(y) for _, y in test_iter) == 25


def _epoch(iterator, epoch):
    iterator.set_epoch(epoch)
    return [(X.asnumpy(), y.asnumpy()) for X, y in iterator]


def test_flip_and_erase_run_on_the_jittered_crops(slice_):
    """--scale-jitter with --augment flip,erase: the crops are those of plain
    jittering, mirrored and erased; per (seed, epoch) the same each time, and
    W sharded workers together see one process's batches."""
    images, labels = slice_[0][:130], slice_[1][:130]
    make = lambda aug=None: ScaleJitterIter(images, labels, 32, 28, 28, 40, seed=4, augment=aug)
    flip = make_augment('flip')
    plain, flipped = _epoch(make(), 2), _epoch(make(flip), 2)
    mirrored = 0
    for (X, y), (Xf, yf) in zip(plain, flipped):
        np.testing.assert_array_equal(y, yf)                 # same order, same images
        same = (X == Xf).all(axis=(1, 2, 3))
        mirror = (X[:, :, :, ::-1] == Xf).all(axis=(1, 2, 3))
        assert (same | mirror).all()                          # each crop kept or mirrored
        mirrored += int((mirror & ~same).sum())
    assert 40 < mirrored < 90                                 # about half of 130
    both = make_augment('flip,erase')
    whole = _epoch(make(both), 3)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(whole, _epoch(make(both), 3)))
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(whole, _epoch(make(both), 4)))
    shards = [_epoch(make(both).shard(rank, 3), 3) for rank in range(3)]
    assert [len(s) for s in shards] == [5, 5, 4]             # last batch of 2: worker 2 skips it
    for i, (X, y) in enumerate(whole):
        for rank, part in enumerate(shards):
            if i < len(part):
                np.testing.assert_array_equal(part[i][0], X[rank::3])
                np.testing.assert_array_equal(part[i][1], y[rank::3])


def test_training_with_jitter_and_augment_passes_the_augmentation(fmnist_dir):
    config = Config(resize=32, scale_jitter=[32, 40], augment='flip,erase', train_samples=64,
                    test_samples=32, data_dir=fmnist_dir).validate()
    train_iter, test_iter = training.load_data(config)
    assert isinstance(train_iter, ScaleJitterIter)
    assert train_iter.augment is not None and test_iter.augment is None
