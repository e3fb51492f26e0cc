"""Data augmentation of a whole training batch at once, in NumPy on the uint8 images.

    --augment crop,flip,erase      (or resized-crop; none: the book)

``crop``          pad by 4 pixels (zeros, the background) and cut a random
                  window of the original size (the CIFAR recipe of He et al. 2016)
``resized-crop``  a random window of 35-100 % of the area and aspect 3/4-4/3,
                  resized bilinearly back to the full size (Inception's
                  RandomResizedCrop, with a smaller least area for 28-pixel images)
``flip``          mirror left-right with probability 1/2
``erase``         with probability 1/2 a random rectangle of 2-33 % of the
                  area, aspect 0.3-3.3, filled with uniform noise (random
                  erasing, Zhong et al. 2017; torchvision's ranges)

They run in this order whatever the order given. With ``--scale-jitter`` the
jittered crops take the place of ``crop``/``resized-crop``; ``flip`` and
``erase`` then run on them. Every image draws its own
window, mirror and rectangle, but the work is one gather per batch (fancy
indexing), not a Python loop over the images. Why not torchvision or Gluon's
transforms: both work image by image, which is the slow path this package
left behind (``data.py``). The random numbers come from the generator the
batch iterator hands over, one per (seed, epoch), drawn per global batch
before it is sharded, so a resumed epoch and any number of workers see the
same augmented images.
"""
import numpy as np

from ..errors import ConfigError

AUGMENTATIONS = ('resized-crop', 'crop', 'flip', 'erase')
CROPS = ('resized-crop', 'crop')  # scale jittering (jitter.py) cuts its own windows instead
PAD = 4
RESIZED_AREA, RESIZED_ASPECT = (0.35, 1.0), (3 / 4, 4 / 3)
ERASE_P, ERASE_AREA, ERASE_ASPECT = 0.5, (0.02, 0.33), (0.3, 3.3)


def parse_augment(text):
    """'crop,flip' -> ('crop', 'flip') in the order they run; 'none' -> ()."""
    names = [] if text == 'none' else [t.strip() for t in str(text).split(',')]
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown or (text != 'none' and not names) or len(set(names)) != len(names):
        raise ConfigError(f"must be none or a comma-separated list of "
                          f"{', '.join(AUGMENTATIONS)} (each once), got {text!r}",
                          flag='augment')
    return tuple(a for a in AUGMENTATIONS if a in names)


def make_augment(text):
    """A function (images uint8 (b, h, w), RandomState) -> images, or None for 'none'."""
    steps = [_STEPS[name] for name in parse_augment(text)]
    if not steps:
        return None

    def augment(images, rng):
        for step in steps:
            images = step(images, rng)
        return images
    return augment


def _gather(images, rows, cols):
    """out[i, r, c] = images[i, rows[i, r], cols[i, c]]: one window per image."""
    b = len(images)
    return images[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]


def crop(images, rng):
    """Pad by PAD pixels of zeros, cut a random window of the original size."""
    b, h, w = images.shape
    padded = np.pad(images, ((0, 0), (PAD, PAD), (PAD, PAD)))
    top, left = rng.randint(0, 2 * PAD + 1, size=(2, b))
    return _gather(padded, top[:, None] + np.arange(h), left[:, None] + np.arange(w))


def flip(images, rng):
    """Mirror left-right the images a coin picks."""
    mirrored = rng.rand(len(images)) < 0.5
    out = images.copy()
    out[mirrored] = images[mirrored, :, ::-1]
    return out


def _boxes(rng, b, h, w, area, aspect):
    """Per image a box (top, left, height, width) of a random area fraction and aspect."""
    target = rng.uniform(*area, size=b) * h * w
    ratio = np.exp(rng.uniform(*np.log(aspect), size=b))
    bh = np.clip(np.round(np.sqrt(target / ratio)), 1, h).astype(int)
    bw = np.clip(np.round(np.sqrt(target * ratio)), 1, w).astype(int)
    top = (rng.rand(b) * (h - bh + 1)).astype(int)
    left = (rng.rand(b) * (w - bw + 1)).astype(int)
    return top, left, bh, bw


def resized_crop(images, rng):
    """A random window per image, resized bilinearly back to (h, w)."""
    b, h, w = images.shape
    top, left, bh, bw = _boxes(rng, b, h, w, RESIZED_AREA, RESIZED_ASPECT)
    # pixel centres of the output mapped into each window (align_corners=False, like OpenCV)
    ys = top[:, None] + (np.arange(h) + 0.5) * (bh / h)[:, None] - 0.5
    xs = left[:, None] + (np.arange(w) + 0.5) * (bw / w)[:, None] - 0.5
    ys, xs = np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, :, None], (xs - x0)[:, None, :]
    img = images.astype(np.float32)
    top_row = _gather(img, y0, x0) * (1 - fx) + _gather(img, y0, x1) * fx
    bottom_row = _gather(img, y1, x0) * (1 - fx) + _gather(img, y1, x1) * fx
    out = top_row * (1 - fy) + bottom_row * fy
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def erase(images, rng):
    """With probability ERASE_P, a random rectangle per image filled with noise."""
    b, h, w = images.shape
    chosen = rng.rand(b) < ERASE_P
    top, left, bh, bw = _boxes(rng, b, h, w, ERASE_AREA, ERASE_ASPECT)
    rows, cols = np.arange(h), np.arange(w)
    inside = (((rows >= top[:, None]) & (rows < (top + bh)[:, None]))[:, :, None]
              & ((cols >= left[:, None]) & (cols < (left + bw)[:, None]))[:, None, :])
    inside &= chosen[:, None, None]
    noise = rng.randint(0, 256, size=images.shape, dtype=np.uint8)
    return np.where(inside, noise, images)


_STEPS = {'resized-crop': resized_crop, 'crop': crop, 'flip': flip, 'erase': erase}
