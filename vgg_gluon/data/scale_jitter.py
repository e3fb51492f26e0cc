"""Scale jittering (Simonyan & Zisserman, sec. 3.1): multi-scale training.

Each training image is rescaled so that its side is a random S in
[S_min, S_max], then a random ``crop`` x ``crop`` window of it is the
network's input (the paper: S in [256, 512], 224-pixel crops). With S = crop
the whole image is seen, as without jittering; a larger S shows a part of the
object at a larger scale, so the network learns to recognise it over a range
of sizes. Fashion-MNIST's images are square, so "side" is both sides.

    python -m vgg_gluon.train --resize 32 --scale-jitter 32,48 [--augment flip,erase]
"""
import numpy as np
import mxnet as mx

from .fashion_mnist import BatchIter, load_data_fashion_mnist, resize_images, to_tensor


class ScaleJitterIter(BatchIter):
    """Batches ``(X, y)`` of randomly rescaled, randomly cropped images.

    images: (n, h, w) uint8 at their original size (28 for Fashion-MNIST).
    X: (batch, 1, crop, crop) float32 in [0, 1]; y: (batch,) int32.
    Every image gets its own S, uniform over the integers S_min..S_max, and
    its own crop offset. ``augment`` (flip, erase: ``augment.make_augment``)
    runs on the crops. Epoch k's order, scales, crops and augmentation depend
    only on (seed, k), like ``BatchIter``: ``set_epoch(k)`` before iterating.
    """

    def __init__(self, images, labels, batch_size, crop, s_min, s_max, shuffle=True, seed=None,
                 augment=None):
        super().__init__(images, labels, batch_size, shuffle=shuffle, seed=seed, augment=augment)
        if not 1 <= crop <= s_min <= s_max:
            raise ValueError(f"need 1 <= crop <= S_min <= S_max, got crop {crop}, "
                             f"S in [{s_min}, {s_max}]")
        self.crop, self.s_min, self.s_max = crop, s_min, s_max
        self.last_scales = None  # the S of each image of the latest batch (for tests, plots)

    def __iter__(self):
        # a stream of its own, so that jittering leaves the batch order unchanged
        rng = np.random.RandomState([self.seed, self.epoch, 1])
        # augmentation's stream is BatchIter's, so flips and erasures are drawn alike
        augment_rng = np.random.RandomState([self.seed, self.epoch, 2]) if self.augment else None
        for idx in self.global_batches():
            # every image of the global batch draws its S and crop, whoever
            # serves it: W sharded workers see exactly one process's images
            scales, offsets = self.draw(self.labels[idx].shape[0], rng)
            mine = slice(self.rank, None, self.num_workers)
            n = len(scales)
            idx, scales, offsets = self.own(idx), scales[mine], offsets[:, mine]
            if not len(scales):
                continue  # no share of this (last) batch for this worker
            X = self.jitter(self.images[idx], scales, offsets)
            if augment_rng is not None:
                # flips and erasures draw per global batch, by its shape only: this
                # worker's crops in their places of a global-shaped batch, the rest blank
                whole = np.zeros((n,) + X.shape[1:], X.dtype)
                whole[mine] = X
                X = self.augment(whole, augment_rng)[mine]
            yield to_tensor(X), mx.nd.array(self.labels[idx], dtype='int32')

    def draw(self, n, rng):
        """S (n,) and crop offsets (2, n) (top, left) for n images, from ``rng``."""
        scales = rng.randint(self.s_min, self.s_max + 1, size=n)
        offsets = rng.randint(0, scales - self.crop + 1, size=(2, n))
        return scales, offsets

    def jitter(self, images, scales, offsets):
        """(b, h, w) uint8 -> (b, crop, crop) uint8: rescale each to its S, crop."""
        out = np.empty((len(images), self.crop, self.crop), dtype=np.uint8)
        # one batched resize per distinct S (at most S_max - S_min + 1 calls)
        for s in np.unique(scales):
            members = np.flatnonzero(scales == s)
            resized = resize_images(images[members], int(s))
            for j, image in zip(members, resized):
                top, left = offsets[0, j], offsets[1, j]
                out[j] = image[top:top + self.crop, left:left + self.crop]
        self.last_scales = scales
        return out


def load_data_jittered(batch_size, resize, s_min, s_max, root=None, train_samples=None,
                       test_samples=None, seed=None, augment=None):
    """(train_iter, test_iter) like ``load_data_fashion_mnist``, the training
    images scale-jittered to S in [s_min, s_max], cropped to ``resize`` and
    augmented if asked; the test images resized to ``resize`` whole
    (single-scale testing)."""
    train_iter, test_iter = load_data_fashion_mnist(
        batch_size, resize=None, root=root, train_samples=train_samples,
        test_samples=test_samples, seed=seed)
    return (ScaleJitterIter(train_iter.images, train_iter.labels, batch_size, resize,
                            s_min, s_max, shuffle=True, seed=seed, augment=augment),
            BatchIter(resize_images(test_iter.images, resize), test_iter.labels, batch_size))
