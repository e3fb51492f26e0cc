"""Is dist_async's parameter server exact? Run under the launcher:

    python -m vgg_gluon.launch -n 2 -s 1 --stall-timeout 0 -- python -m benchmarks.kvstore_async_check

Every worker pushes a vector of ones to one key STEPS times (pushpull, as
Gluon's Trainer does with update_on_kvstore) and the server runs SGD with
lr 1, so the stored weight is minus the number of pushes received so far. Each
pulled array must hold a single value (a pull torn by a concurrent push would
mix two), and after a barrier every worker must read -STEPS x workers.
Environment: KV (dist_async), N (elements, 2,000,000 like VGG's big dense
weights), STEPS (200).
"""
import os

import mxnet as mx
import numpy as np


def main():
    kv = mx.kv.create(os.environ.get('KV', 'dist_async'))
    n, steps = int(os.environ.get('N', '2000000')), int(os.environ.get('STEPS', '200'))
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=1.0, rescale_grad=1.0))
    w = mx.nd.zeros((n,))
    kv.init(3, w)
    kv.pull(3, out=w)
    torn, seen = 0, []
    for _ in range(steps):
        g = mx.nd.ones((n,))   # a fresh array: pushpull writes the pulled weights into it
        kv.pushpull(3, g, out=w)
        a = w.asnumpy()
        torn += int(a.min() != a.max())
        seen.append(-float(a.min()))
    kv._barrier()
    kv.pull(3, out=w)
    a = w.asnumpy()
    ok = torn == 0 and a.min() == a.max() == -steps * kv.num_workers
    print(f"rank {kv.rank}: {torn} of {steps} pulls torn; pushes seen in pulls "
          f"{min(seen):.0f}..{max(seen):.0f}; final {a.min():g}..{a.max():g} "
          f"(expected {-steps * kv.num_workers}): {'exact' if ok else 'WRONG'}", flush=True)
    return 0 if ok else 1


if __name__ == '__main__':
    raise SystemExit(main())
