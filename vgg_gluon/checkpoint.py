"""Run directories: build a network from a saved config and load its weights.

A run directory holds ``config.json`` (the resolved Config), ``metrics.jsonl``
(one JSON record per epoch) and ``model.params`` (the final parameters).
"""
import json
import os

from .config import Config
from .model import vgg


def build_net(config):
    """The (uninitialised) network a Config describes."""
    return vgg(config.conv_arch(), ratio=config.ratio, scale_dense=config.scale_dense,
               dropout=config.dropout)


def load_config(run_dir):
    with open(os.path.join(run_dir, 'config.json')) as f:
        return Config(**json.load(f))


def load_model(run_dir, ctx=None):
    """(net, config) of a finished run, parameters loaded onto ``ctx``."""
    import mxnet as mx
    config = load_config(run_dir)
    net = build_net(config)
    net.load_parameters(os.path.join(run_dir, 'model.params'), ctx=ctx or mx.cpu())
    return net, config
