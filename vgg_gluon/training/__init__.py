"""Training: the book's loop and everything a run of a ``Config`` needs.

- ``loop``: ``train_ch5`` and ``evaluate_accuracy``
- ``progress``: the progress bar (terminal, Jupyter) or progress lines (elsewhere)
- ``runner``: ``run(config)``: data, model, trainer, loop, checkpoints
- ``optimizers``, ``schedules``: the optimizers and learning-rate schedules by name
- ``recipes``: the seed systems' recipes and this project's ``fast`` and ``best``
- ``memory``: the memory a training run needs, estimated from the layer table
- ``measure``: seconds per step and memory measured on this machine
- ``distributed``: parameter-server and Horovod workers
- ``processes``: the processes of a parameter-server job (``launch``)
"""
