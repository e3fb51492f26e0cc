"""The IDX reader on the real files and on corrupt copies; resizing; batching."""
import gzip
import os
import shutil

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon.data.vision import transforms

from vgg_gluon import load_data_fashion_mnist
from vgg_gluon.data import fashion_mnist as data


def test_real_files_have_the_documented_shape(fmnist):
    train_X, train_y = fmnist['train']
    test_X, test_y = fmnist['test']
    assert train_X.shape == (60000, 28, 28) and test_X.shape == (10000, 28, 28)
    assert train_X.dtype == np.uint8 and train_X.max() == 255 and train_X.min() == 0
    # Fashion-MNIST is balanced: 6,000 and 1,000 images per class
    assert np.bincount(train_y).tolist() == [6000] * 10
    assert np.bincount(test_y).tolist() == [1000] * 10


def test_search_order_prefers_env_variable(fmnist_dir, tmp_path, monkeypatch):
    for name in os.listdir(fmnist_dir):
        shutil.copy(os.path.join(fmnist_dir, name), tmp_path / name)
    monkeypatch.setenv('VGG_GLUON_DATA', str(tmp_path))
    assert data.find_data_dir() == str(tmp_path)
    assert data.find_data_dir(fmnist_dir) == fmnist_dir      # an explicit directory wins


def copy_dataset(fmnist_dir, dest, raw=False):
    """Copy the four files, gunzipped if ``raw``; returns {stem: path}."""
    paths = {}
    for name in os.listdir(fmnist_dir):
        src = os.path.join(fmnist_dir, name)
        stem = name[:-3] if name.endswith('.gz') else name
        if raw:
            with gzip.open(src) as f:
                (dest / stem).write_bytes(f.read())
            paths[stem] = dest / stem
        else:
            shutil.copy(src, dest / name)
            paths[stem] = dest / name
    return paths


def test_raw_idx_files_read_the_same(fmnist_dir, fmnist, tmp_path):
    copy_dataset(fmnist_dir, tmp_path, raw=True)
    raw = data.read_fashion_mnist(str(tmp_path))
    for split in ('train', 'test'):
        for a, b in zip(raw[split], fmnist[split]):
            np.testing.assert_array_equal(a, b)


def corrupt(path, how):
    content = path.read_bytes()
    if how == 'truncated':
        content = content[:len(content) // 2]
    elif how == 'trailing':
        content = content + b'\0' * 7
    elif how == 'magic':
        content = b'\0\0\x08\x04' + content[4:]
    elif how == 'count':
        content = content[:4] + (1234).to_bytes(4, 'big') + content[8:]
    elif how == 'size':
        content = content[:8] + (27).to_bytes(4, 'big') + content[12:]
    elif how == 'empty':
        content = b''
    elif how == 'label':
        content = content[:8] + b'\x0b' + content[9:]
    path.write_bytes(content)


@pytest.mark.parametrize('stem, how, message', [
    ('train-images-idx3-ubyte', 'truncated', 'truncated or has trailing data'),
    ('train-images-idx3-ubyte', 'trailing', 'truncated or has trailing data'),
    ('t10k-images-idx3-ubyte', 'magic', 'magic number 0x00000804, expected 0x00000803'),
    ('t10k-labels-idx1-ubyte', 'count', 'header says 1234 items, expected 10000'),
    ('train-images-idx3-ubyte', 'size', 'images are 27x28, expected 28x28'),
    ('train-labels-idx1-ubyte', 'empty', 'too short for an IDX header'),
    ('t10k-labels-idx1-ubyte', 'label', 'label 11 outside 0..9'),
])
def test_corrupt_raw_files_are_named(fmnist_dir, tmp_path, stem, how, message):
    paths = copy_dataset(fmnist_dir, tmp_path, raw=True)
    corrupt(paths[stem], how)
    with pytest.raises(data.DataError, match=message) as err:
        data.read_fashion_mnist(str(tmp_path))
    assert str(paths[stem]) in str(err.value)


def test_truncated_gzip_is_named(fmnist_dir, tmp_path):
    paths = copy_dataset(fmnist_dir, tmp_path)
    path = paths['train-labels-idx1-ubyte']
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(data.DataError, match='truncated or corrupt') as err:
        data.read_fashion_mnist(str(tmp_path))
    assert str(path) in str(err.value)


def test_missing_files_and_directories_are_named(fmnist_dir, tmp_path):
    with pytest.raises(data.DataError, match='does not exist'):
        data.find_data_dir(str(tmp_path / 'nope'))
    paths = copy_dataset(fmnist_dir, tmp_path)
    os.remove(paths['t10k-labels-idx1-ubyte'])
    with pytest.raises(data.DataError, match='lacks t10k-labels-idx1-ubyte'):
        data.find_data_dir(str(tmp_path))


def test_batched_resize_matches_glouns_per_image_transform(fmnist):
    """Resizing all at once gives d2lzh's Resize + ToTensor, pixel for pixel."""
    images = fmnist['test'][0][:50]
    book = transforms.Compose([transforms.Resize(96), transforms.ToTensor()])
    expected = np.stack([book(mx.nd.array(x[:, :, None], dtype='uint8')).asnumpy()
                         for x in images])
    train_iter = data.BatchIter(data.resize_images(images, 96), np.zeros(50), batch_size=50)
    X, _ = next(iter(train_iter))
    assert X.shape == (50, 1, 96, 96) and X.dtype == np.float32
    np.testing.assert_array_equal(X.asnumpy(), expected)


def test_iterators_batches_and_shuffling():
    images = np.arange(10 * 4 * 4, dtype=np.uint8).reshape(10, 4, 4)
    labels = np.arange(10) % 10
    it = data.BatchIter(images, labels, batch_size=4, shuffle=True, seed=3)
    assert len(it) == 3
    epoch0 = [y.asnumpy().tolist() for _, y in it]
    epoch1 = [y.asnumpy().tolist() for _, y in it]
    assert [len(b) for b in epoch0] == [4, 4, 2]            # the last batch keeps the rest
    assert sorted(sum(epoch0, [])) == list(range(10)) and epoch0 != epoch1
    it.set_epoch(0)
    assert [y.asnumpy().tolist() for _, y in it] == epoch0  # order depends on (seed, epoch)
    X, y = next(iter(data.BatchIter(images, labels, batch_size=10)))
    assert X.shape == (10, 1, 4, 4) and float(X.max().asscalar()) <= 1.0
    np.testing.assert_array_equal(X.asnumpy()[:, 0] * 255, images.astype(np.float32))


def test_load_data_slices_and_resizes():
    train_iter, test_iter = load_data_fashion_mnist(64, resize=40, train_samples=100,
                                                    test_samples=30)
    assert train_iter.num_samples == 100 and test_iter.num_samples == 30
    X, y = next(iter(test_iter))
    assert X.shape == (30, 1, 40, 40) and y.shape == (30,)
    with pytest.raises(data.DataError, match='must be from 1 to 60000') as err:
        load_data_fashion_mnist(64, train_samples=60001)
    assert err.value.flag == 'train_samples'
