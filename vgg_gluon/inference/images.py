"""Top-k Fashion-MNIST labels of any image file (``python -m vgg_gluon.predict``).

Each image is made to look like the training data: converted to grey,
resized to 28x28 (area averaging when shrinking), then to the run's input
size with the training's bilinear kernel, and scaled to [0, 1].
"""
import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..data.fashion_mnist import IMAGE_SIZE, TEXT_LABELS, resize_images, to_tensor
from ..errors import Error, ImageError


def read_image(path):
    """A file -> (28, 28) uint8 grey image like a Fashion-MNIST item (ImageError if unreadable)."""
    try:
        with Image.open(path) as img:
            img.load()
            grey = img.convert('L')
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a directory, not an image") from None
    except UnidentifiedImageError:
        if os.path.getsize(path) == 0:
            raise ImageError(f"{path}: empty file, not an image") from None
        raise ImageError(f"{path}: not an image Pillow can read (PNG, JPEG, ...)") from None
    except (OSError, ValueError, SyntaxError) as err:  # truncated or corrupt image data
        raise ImageError(f"{path}: cannot decode the image ({err})") from None
    if grey.size != (IMAGE_SIZE, IMAGE_SIZE):
        shrinking = grey.width > IMAGE_SIZE or grey.height > IMAGE_SIZE
        grey = grey.resize((IMAGE_SIZE, IMAGE_SIZE),
                           Image.BOX if shrinking else Image.BILINEAR)
    return np.asarray(grey, dtype=np.uint8)


def to_batch(images, size):
    """(n, 28, 28) uint8 -> (n, 1, size, size) float32 NDArray, exactly as in training."""
    return to_tensor(resize_images(images, size))


def predict_probabilities(net, X, ctx):
    """(n, 1, h, w) -> (n, 10) NumPy softmax probabilities."""
    return net(X.as_in_context(ctx)).softmax(axis=1).asnumpy()


def top_k(probabilities, k):
    """[(label, probability), ...] best first, for one row of probabilities."""
    order = probabilities.argsort()[::-1][:k]
    return [(TEXT_LABELS[i], float(probabilities[i])) for i in order]
