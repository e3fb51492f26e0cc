"""The data: Fashion-MNIST and what is done to its images on the way in.

- ``fashion_mnist``: find, read and check the IDX files, resize, batch, shard
- ``augment``: crop, resized crop, flip, erase of a whole uint8 batch
- ``scale_jitter``: training at random scales (the paper's S_min, S_max)
"""
