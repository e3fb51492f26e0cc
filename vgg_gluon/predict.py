"""``python -m vgg_gluon.predict RUN_DIR IMAGE...``: the top-k Fashion-MNIST labels of images.

    python -m vgg_gluon.predict runs/20261123-0930 shoe.png shirt.jpg --top-k 3

Any PNG or JPEG (or other format Pillow reads), any size, grey or colour.
Each image is made to look like the training data: converted to grey,
resized to 28x28 (area averaging when shrinking), then to the run's input
size with the training's bilinear kernel, and scaled to [0, 1]. Fashion-MNIST
items are light on a black background: invert a photo of dark clothes on
white paper first, or the predictions will be poor. A file that cannot be
read gets one line on stderr; the others are still predicted, and the exit
status is then 2.
"""
import sys

from . import _threads  # noqa: F401  (before mxnet)
from ._cli import INPUT_ERRORS, fail, open_run, run_dir_parser
from .train import _int_arg

PROG = 'python -m vgg_gluon.predict'


class ImageError(ValueError):
    """A file that is not a readable image."""


def read_image(path):
    """A file -> (28, 28) uint8 grey image like a Fashion-MNIST item (ImageError if unreadable)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError
    from .data import IMAGE_SIZE
    try:
        with Image.open(path) as img:
            img.load()
            grey = img.convert('L')
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a directory, not an image") from None
    except UnidentifiedImageError:
        import os
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
    import mxnet as mx
    from .data import resize_images
    return mx.nd.array(resize_images(images, size)[:, None], dtype='uint8').astype('float32') / 255


def predict_probabilities(net, X, ctx):
    """(n, 1, h, w) -> (n, 10) NumPy softmax probabilities."""
    return net(X.as_in_context(ctx)).softmax(axis=1).asnumpy()


def top_k(probabilities, k):
    """[(label, probability), ...] best first, for one row of probabilities."""
    from .data import TEXT_LABELS
    order = probabilities.argsort()[::-1][:k]
    return [(TEXT_LABELS[i], float(probabilities[i])) for i in order]


def build_parser():
    p = run_dir_parser(PROG, __doc__.split('\n')[0], epilog=__doc__.split('\n', 2)[2])
    p.add_argument('images', metavar='IMAGE', nargs='+', help='PNG or JPEG files')
    p.add_argument('--top-k', type=_int_arg('an integer from 1 to 10'), default=3,
                   help='how many labels to print per image (1 to 10; default 3)')
    return p


def main(argv=None):
    """Entry point; returns the exit status (2: bad input or some image unreadable)."""
    import numpy as np
    from .config import ConfigError
    args = build_parser().parse_args(argv)
    try:
        if not 1 <= args.top_k <= 10:
            raise ConfigError('--top-k', f"must be an integer from 1 to 10, got {args.top_k}")
        net, config, ctx = open_run(args)
    except INPUT_ERRORS as err:
        return fail(PROG, err)
    images, names, failed = [], [], 0
    for path in args.images:
        try:
            images.append(read_image(path))
            names.append(path)
        except ImageError as err:
            print(f"{PROG}: error: {err}", file=sys.stderr)
            failed += 1
    if images:
        probabilities = predict_probabilities(net, to_batch(np.stack(images), config.resize), ctx)
        for path, row in zip(names, probabilities):
            print(f"{path}: " + ', '.join(f"{label} {p:.3f}" for label, p in top_k(row, args.top_k)))
    return 2 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
