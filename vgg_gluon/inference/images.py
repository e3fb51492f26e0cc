"""Any image file to a Fashion-MNIST-like input, and top-k labels (``predict``, the page).

Each image is made to look like the training data:

1. read: regular files only; the header's size is checked against
   ``MAX_PIXELS`` before any pixel is decoded (a decompression bomb is refused);
   an animated image gives its first frame;
2. converted to 8-bit grey: 16-bit and 32-bit integer images are scaled
   (65535 -> 255, not clipped), float images from [0, 1]; CMYK through RGB;
   transparent pixels over white (a drawing on a transparent canvas is
   dark on light);
3. inverted when asked, or with ``invert='auto'`` when its border is mostly
   light (mean above 127): Fashion-MNIST items are light on black, and a
   product photo, dark on white, would otherwise be read as something else;
4. padded to a square with its border's colour (not stretched), resized to
   28x28 (area averaging when shrinking), then, for the network, to the run's
   input size with the training's bilinear kernel, and scaled to [0, 1].
"""
import os
import stat
from typing import NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..data.fashion_mnist import IMAGE_SIZE, TEXT_LABELS, resize_images, to_tensor
from ..errors import Error, ImageError

# the largest image read: 50 megapixels (a 7071 x 7071 photo; 200 MB as RGBA).
# Larger ones are refused from their header, before decoding.
MAX_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS   # Pillow's own guard, for every other caller too
INVERT = ('auto', 'always', 'never')


class Prepared(NamedTuple):
    """An image ready for the network: ``image`` (28, 28) uint8 light-on-dark, and
    whether it was ``inverted`` to get there."""
    image: np.ndarray
    inverted: bool


def _check_file(path):
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except OSError as err:
        raise ImageError(f"{path}: cannot read ({err.strerror})") from None
    if stat.S_ISDIR(mode):
        raise ImageError(f"{path}: is a directory, not an image")
    if not stat.S_ISREG(mode):
        raise ImageError(f"{path}: not a regular file (a pipe, device or socket); "
                         f"give an image file")
    if os.path.getsize(path) == 0:
        raise ImageError(f"{path}: empty file, not an image")


def check_size(width, height, name):
    """ImageError if a width x height image is over ``MAX_PIXELS``."""
    if width * height > MAX_PIXELS:
        raise ImageError(f"{name}: {width}x{height} pixels is over the limit of "
                         f"{MAX_PIXELS:,} pixels; refusing to decode it (shrink it first)")


def load_grey(path):
    """A file -> (h, w) uint8 grey array, any size up to MAX_PIXELS (ImageError if unreadable)."""
    _check_file(path)
    try:
        with Image.open(path) as img:
            check_size(img.width, img.height, path)
            img.seek(0)        # an animation's first frame
            img.load()
            return to_grey(img)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image Pillow can read (PNG, JPEG, ...)") from None
    except Image.DecompressionBombError as err:   # Pillow's own check, in Image.open
        raise ImageError(f"{path}: over the limit of {MAX_PIXELS:,} pixels ({err}); "
                         f"refusing to decode it") from None
    except (OSError, ValueError, SyntaxError, EOFError) as err:  # truncated or corrupt data
        raise ImageError(f"{path}: cannot decode the image ({err})") from None


def to_grey(img):
    """A PIL image of any mode -> (h, w) uint8 grey array (see the module's step 2)."""
    check_size(img.width, img.height, 'the image')
    if img.mode.startswith('I;16') or img.mode in ('I', 'F'):
        values = np.asarray(img, dtype=np.float64)
        if img.mode == 'F':
            scale = 255.0 if values.max(initial=0) <= 1.0 else 1.0
        elif img.mode == 'I' and values.max(initial=0) <= 255:
            scale = 1.0        # 8-bit values stored as 32-bit integers
        else:
            scale = 255.0 / 65535.0
        return np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
    if img.mode == 'CMYK':
        img = img.convert('RGB')
    if img.mode in ('RGBA', 'LA', 'PA') or (img.mode == 'P' and 'transparency' in img.info):
        rgba = img.convert('RGBA')
        white = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert('L'), dtype=np.uint8)


def _border(grey):
    width = max(1, min(grey.shape) // 16)
    return np.concatenate([grey[:width].ravel(), grey[-width:].ravel(),
                           grey[:, :width].ravel(), grey[:, -width:].ravel()])


def prepare(grey, invert='auto'):
    """(h, w) uint8 grey -> Prepared((28, 28) uint8, inverted): inverted as
    ``invert`` says (auto: when the border is mostly light), padded to a square
    with the border's colour, resized to 28x28."""
    if invert not in INVERT:
        raise Error(f"must be one of {', '.join(INVERT)}, got {invert!r}", flag='invert')
    border = _border(grey)
    inverted = invert == 'always' or (invert == 'auto' and border.mean() > 127)
    if inverted:
        grey, border = 255 - grey, 255 - border
    h, w = grey.shape
    if h != w:
        side = max(h, w)
        square = np.full((side, side), int(np.median(border)), dtype=np.uint8)
        top, left = (side - h) // 2, (side - w) // 2
        square[top:top + h, left:left + w] = grey
        grey = square
    img = Image.fromarray(grey)
    if img.size != (IMAGE_SIZE, IMAGE_SIZE):
        shrinking = img.width > IMAGE_SIZE
        img = img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BOX if shrinking else Image.BILINEAR)
    return Prepared(np.asarray(img, dtype=np.uint8), bool(inverted))


def prepare_image(path, invert='auto'):
    """A file -> Prepared((28, 28) uint8, inverted) (ImageError if unreadable)."""
    return prepare(load_grey(path), invert)


def read_image(path, invert='never'):
    """A file -> (28, 28) uint8 grey image like a Fashion-MNIST item (ImageError if unreadable)."""
    return prepare_image(path, invert).image


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
