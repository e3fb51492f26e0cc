"""Shared fixtures: the real Fashion-MNIST, read once per session."""
import os

import pytest

import vgg_gluon  # noqa: F401  (sets OMP_NUM_THREADS before mxnet loads)
from vgg_gluon.data import fashion_mnist as data


@pytest.fixture(scope='session')
def fmnist_dir():
    """Directory holding the real Fashion-MNIST IDX files."""
    return data.find_data_dir(os.environ.get('VGG_GLUON_DATA'))


@pytest.fixture(scope='session')
def fmnist(fmnist_dir):
    """{'train': (images, labels), 'test': (images, labels)} as uint8 arrays."""
    return data.read_fashion_mnist(fmnist_dir)
