"""What every part leans on: files, devices, seeds, signals and MXNet's internals.

- ``atomic``: files written whole or not at all, digests
- ``devices``: ``--gpus`` to MXNet contexts
- ``seeding``: seeds and generator states
- ``signals``: Ctrl-C and SIGTERM as one exception, held back while saving
- ``mxnet_internals``: every private MXNet attribute the project reads
"""
