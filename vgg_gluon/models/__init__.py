"""The networks: the VGG family as data, the book's builders, and what they cost.

- ``architectures``: configurations A-E (+LRN, +BN, kernel sizes) as data
- ``vgg``: ``vgg_block`` and ``vgg``, the book's network; ``build_net(config)``
- ``alexnet``: the book's AlexNet, to compare with
- ``registry``: ``list_models`` and ``get_model``, every network by name
- ``layers``: ``LocalResponseNorm`` (Gluon has none)
- ``layer_table``: per-layer shapes, parameters, multiply-adds, receptive fields
"""
