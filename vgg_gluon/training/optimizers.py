"""The optimizers ``--optimizer`` names, built as the Trainer needs them.

``adam`` is MXNet's own. ``sgd`` is MXNet's SGD stepping one weight per
kernel call (``SGD`` below: the same results, bit for bit, in less time).
``nag`` is MXNet's NAG with one fix:
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
import numpy
# Imported by name, not reached as mx.nd at step time: a parameter server
# unpickles this optimizer and steps while ``import mxnet`` is still running
# (mxnet 1.9.1 starts the server from its package __init__), when ``mx.nd``
# does not exist yet but the mxnet.ndarray module does.
from mxnet.ndarray import sgd_mom_update, sgd_update

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


class SGD(mx.optimizer.SGD):
    """mx.optimizer.SGD whose step calls ``sgd_update``/``sgd_mom_update`` once
    a weight instead of the aggregated ``multi_sgd_update``.

    Why: on the CPU, mxnet 1.9.1's multi-weight kernels are slower than the
    one-weight ones for the same formula: 26 against 17 ms (plain) and 20
    against 14 ms (momentum) for a 4096x4096 weight on 2 threads, and the
    update was 9 % of the book recipe's step (benchmarks/profile_step.py).
    Only where the two give the same bits: with momentum always; without
    momentum only when the weight decay is 0 (the book's recipe), because
    with decay the one-weight kernel rounds differently in the last bit.
    Everything else (sparse or float16 weights, multi-precision, plain SGD
    with decay) goes to MXNet's own step.
    """

    def _update_impl(self, indices, weights, grads, states, multi_precision=False):
        listed = isinstance(indices, (tuple, list))
        as_list = (lambda x: list(x)) if listed else (lambda x: [x])
        ws, gs = as_list(weights), as_list(grads)
        dense = all(w.stype == 'default' and g.stype == 'default' and w.dtype == numpy.float32
                    for w, g in zip(ws, gs))
        if multi_precision or not dense or (not self.momentum and self._any_decay(indices)):
            return internals.sgd_update(self, indices, weights, grads, states, multi_precision)
        indices = as_list(indices)
        self._update_count(indices)
        options = {'rescale_grad': self.rescale_grad}
        if self.clip_gradient:
            options['clip_gradient'] = self.clip_gradient
        for w, g, state, lr, wd in zip(ws, gs, as_list(states), self._get_lrs(indices),
                                       self._get_wds(indices)):
            if self.momentum:
                sgd_mom_update(w, g, state, out=w, lr=lr, wd=wd, momentum=self.momentum,
                               **options)
            else:
                sgd_update(w, g, out=w, lr=lr, wd=wd, **options)
        return None

    def _any_decay(self, indices):
        return any(self._get_wds(list(indices) if isinstance(indices, (tuple, list))
                                 else [indices]))


def create(name, **params):
    """The optimizer ``name`` ('sgd', 'nag', 'adam') as a Trainer argument:
    a name MXNet knows, or an instance of ours."""
    ours = {'nag': NAG, 'sgd': SGD}
    return ours[name](**params) if name in ours else name
