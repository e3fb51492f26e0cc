"""The optimizers ``--optimizer`` names, built as the Trainer needs them.

``sgd`` and ``adam`` are MXNet's own. ``nag`` is MXNet's NAG with one fix:
mxnet 1.9.1's ``nag_mom_update`` writes the new weight into ``out`` and then
reads ``weight`` again for the weight-decay term of the momentum; with
``out=weight``, as ``mx.optimizer.NAG`` calls it, that read sees the new
weight or the old one depending on how the kernel's loop was vectorised and
split over threads, which MXNet decides per process. Seen here: the same
seeded run gave two different losses in 2 of 5 processes with ``--wd`` on
(none without weight decay, and none with ``sgd``). Writing into a
separate array and copying it back reads the old weight every time.
"""
import mxnet as mx

from ..runtime import mxnet_internals as internals


class NAG(mx.optimizer.NAG):
    """mx.optimizer.NAG whose momentum step always decays the old weight.

    Overrides ``_update_impl``, the one method both ``update`` and
    ``update_multi_precision`` call in mxnet 1.9.1, for float32 weights with
    momentum and weight decay; everything else is MXNet's.
    """

    def _update_impl(self, index, weight, grad, state, multi_precision=False):
        if multi_precision or state is None or self.clip_gradient or not self.wd:
            return internals.nag_update(self, index, weight, grad, state, multi_precision)
        lr, wd = internals.count_update(self, index)
        # nag_mom_update's formula, written so that the decay reads the old weight
        step = lr * (self.rescale_grad * grad + wd * weight)
        state *= self.momentum
        state -= step
        weight += self.momentum * state - step
        return None


def create(name, **params):
    """The optimizer ``name`` ('sgd', 'nag', 'adam') as a Trainer argument:
    a name MXNet knows, or an instance of ours."""
    return NAG(**params) if name == 'nag' else name
