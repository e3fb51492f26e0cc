"""Run directories: what a run writes after every epoch, and reading it back.

- ``reader``: the config, the verified manifest and the parameters; ``load_model``
- ``writer``: the checkpoint after every epoch; restoring one for ``--resume``
- ``optimizer_state``: the optimizer's states without pickle
- ``resume``: which settings a resumed run may change
"""
