"""Which runtime settings speed up vgg_gluon's training step on this machine?

    python -m benchmarks.bench_settings                 # every variant, 2 rounds
    python -m benchmarks.bench_settings --variants base,bind,active --rounds 3

Each variant is ``python -m vgg_gluon.train``'s path (bench_train's ``vgg_gluon``
worker: real Fashion-MNIST, VGG-11/4, 96 px, batch 128, SGD) run in a fresh
process with a few environment variables changed. Variants alternate in rotating
order within each round, so that drift hits all alike; the table gives the
median training and evaluation images/s and the ratio to ``base`` (vgg_gluon's
defaults) per round and overall. A setting is worth keeping only if its ratio
stays above 1 in every round by more than the rounds disagree.
"""
import json
import statistics
import sys
import time

from ._args import Parser, at_least
from .bench_train import rotated, run_worker, timed

# name -> (environment added to vgg_gluon's defaults, why it might help)
VARIANTS = {
    'base': ({}, "vgg_gluon's defaults: OMP_NUM_THREADS = usable cores"),
    'one-thread': ({'OMP_NUM_THREADS': '1'}, 'one OpenMP thread (MXNet default here)'),
    'bind': ({'OMP_PROC_BIND': 'true', 'OMP_PLACES': 'cores'},
             'pin OpenMP threads to cores: no migration, warm caches'),
    'active': ({'OMP_WAIT_POLICY': 'ACTIVE'},
               'threads spin between parallel regions instead of sleeping'),
    'passive': ({'OMP_WAIT_POLICY': 'PASSIVE'},
                "threads sleep at once: leave the cores to MXNet's engine threads"),
    'bind+active': ({'OMP_PROC_BIND': 'true', 'OMP_PLACES': 'cores', 'OMP_WAIT_POLICY': 'ACTIVE'},
                    'both'),
    'aggregate-all': ({'MXNET_OPTIMIZER_AGGREGATION_SIZE': '60'},
                      'one multi_sgd_update for all parameters (default: 4 at a time)'),
    'naive-engine': ({'MXNET_ENGINE_TYPE': 'NaiveEngine'},
                     'no dependency engine threads: ops run in the Python thread'),
    'no-bulk': ({'MXNET_EXEC_BULK_EXEC_TRAIN': '0'}, 'op bulking off (default on)'),
    'no-onednn': ({'MXNET_MKLDNN_ENABLED': '0'}, "MXNet's own im2col + OpenBLAS kernels"),
}


def main(argv=None):
    p = Parser(description=__doc__.split('\n')[0])
    p.add_argument('--variants', default=','.join(VARIANTS),
                   help=f"comma-separated subset of {','.join(VARIANTS)} (base is always run)")
    p.add_argument('--rounds', type=at_least(1), default=2)
    p.add_argument('--steps', type=at_least(1), default=10, help='timed batches per run')
    p.add_argument('--warmup', type=at_least(1), default=2)
    p.add_argument('--eval-batches', type=at_least(1), default=4)
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)
    names = ['base'] + [v for v in args.variants.split(',') if v and v != 'base']
    unknown = set(names) - set(VARIANTS)
    if unknown:
        p.error(f"--variants: unknown {', '.join(sorted(unknown))}; choose from {', '.join(VARIANTS)}")
    # the worker's own arguments (bench_train's)
    args.device, args.amp, args.gemm_n = 'cpu', False, 2048

    runs = {name: [] for name in names}
    began = time.time()
    for r in range(args.rounds):
        for name in rotated(names, r):
            result, seconds = timed(lambda: run_worker('vgg_gluon', args, VARIANTS[name][0]))
            runs[name].append(result)
            if not args.json:
                print(f"round {r + 1} {name:<14} {seconds:4.0f} s  "
                      f"{result.get('train_img_s', result.get('error'))}", flush=True)

    def rate(name, key, r):
        return runs[name][r].get(key)

    rows = {}
    for name in names:
        per_round = [rate(name, 'train_img_s', r) / rate('base', 'train_img_s', r)
                     if rate(name, 'train_img_s', r) and rate('base', 'train_img_s', r) else None
                     for r in range(args.rounds)]
        ok = [x for x in per_round if x is not None]
        rows[name] = {
            'env': VARIANTS[name][0], 'why': VARIANTS[name][1],
            'train_img_s': statistics.median([x['train_img_s'] for x in runs[name] if 'train_img_s' in x] or [0]),
            'eval_img_s': statistics.median([x['eval_img_s'] for x in runs[name] if 'eval_img_s' in x] or [0]),
            'vs_base_per_round': per_round,
            'vs_base': statistics.median(ok) if ok else None,
            'errors': [x['error'] for x in runs[name] if 'error' in x]}
    report = {'rows': rows, 'rounds': args.rounds, 'steps': args.steps,
              'wall_s': time.time() - began, 'date': time.strftime('%Y-%m-%d %H:%M %Z')}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"\n{'variant':<14}{'train img/s':>12}{'vs base':>9}  per round{'':<10}{'eval img/s':>11}  setting")
    for name, row in rows.items():
        rounds = ' '.join('-' if x is None else f'{x:.2f}' for x in row['vs_base_per_round'])
        vs = '-' if row['vs_base'] is None else f"{row['vs_base']:.2f}x"
        env = ' '.join(f'{k}={v}' for k, v in row['env'].items()) or '(defaults)'
        print(f"{name:<14}{row['train_img_s']:>12.1f}{vs:>9}  {rounds:<19}{row['eval_img_s']:>11.1f}  {env}")
        for e in row['errors']:
            print(f"{'':<14}error: {e}")
    print(f"\n{report['wall_s']:.0f} s in all, {report['date']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
