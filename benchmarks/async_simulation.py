"""dist_async's algorithm in one process: two workers' gradients, one server's optimizer.

    python -m benchmarks.async_simulation [--mode async|fresh|sync] [--seed 5] [--lr 0.001]
                                          [--optimizer adam] [--dropout 0.5]

The run of benchmarks/dist_async.py (default network, 32 px, 6,000 / 2,000
images, batch 128, 2 epochs) without a parameter server, to tell the
algorithm from its implementation:

* async: each global batch's two halves (rows 0::2 and 1::2, the workers'
  shards) are two Adam steps on the shared weights, each gradient computed at
  the weights its worker pulled after its own previous push, i.e. without the
  other worker's last step: a staleness of one step, as two workers on one
  dist_async server have.
* fresh: the same two steps, each gradient computed at the newest weights.
* sync: one step with the whole batch (one process, or dist_sync).

Prints the test accuracy after each epoch (and with --every N the batch loss
of every N-th batch).
"""
import argparse

import mxnet as mx
from mxnet import autograd

from vgg_gluon.config import Config
from vgg_gluon.runtime.seeding import seed_epoch, seed_everything
from vgg_gluon.training.loop import evaluate_accuracy
from vgg_gluon.training.runner import build_model, load_data, make_loss


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--mode', choices=('async', 'fresh', 'sync'), default='async')
    p.add_argument('--seed', type=int, default=5)
    p.add_argument('--lr', type=float, default=0.001)
    p.add_argument('--optimizer', choices=('adam', 'sgd'), default='adam')
    p.add_argument('--dropout', type=float, default=0.5)
    p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--every', type=int, default=0)
    args = p.parse_args()
    config = Config(resize=32, epochs=args.epochs, train_samples=6000, test_samples=2000,
                    optimizer=args.optimizer, lr=args.lr, dropout=args.dropout, seed=args.seed, quiet=True)
    ctx = [mx.cpu()]
    seed_everything(config.seed)
    net, trainer = build_model(config, ctx)
    train_iter, test_iter = load_data(config)
    loss = make_loss(config)
    params = list(net.collect_params().values())

    def get():
        return [p.data().copy() for p in params]

    def put(weights):
        for param, w in zip(params, weights):
            param.set_data(w)

    server, pulled = get(), [get(), get()]   # the server's weights; each worker's last pull
    for epoch in range(config.epochs):
        train_iter.set_epoch(epoch)
        seed_epoch(config.seed, epoch)
        for i, (X, y) in enumerate(train_iter):
            parts = [(X, y)] if args.mode == 'sync' else [(X[r::2], y[r::2]) for r in range(2)]
            for r, (Xr, yr) in enumerate(parts):
                if args.mode == 'async':
                    put(pulled[r])
                with autograd.record():
                    l = loss(net(Xr), yr).sum()
                l.backward()
                if args.every and i % args.every == 0 and r == 0:
                    print(f"batch {i + 1}: loss {l.asscalar() / Xr.shape[0]:.4f}", flush=True)
                if args.mode == 'async':
                    put(server)
                trainer.step(X.shape[0])   # the workers' rescale: 1 / global batch
                if args.mode == 'async':
                    server = get()
                    pulled[r] = [w.copy() for w in server]
        if args.mode == 'async':
            put(server)
        print(f"{args.mode} {args.optimizer} seed {args.seed} lr {args.lr:g} epoch {epoch + 1}: "
              f"test acc {evaluate_accuracy(test_iter, net, ctx):.4f}", flush=True)


if __name__ == '__main__':
    main()
