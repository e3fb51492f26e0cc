"""Make a committed results directory from a training run: the book's log, the
metrics, the learning curve and the command that made it.

    python scripts/record_run.py RUN_DIR LOG OUT --command "python -m vgg_gluon.train ..."

RUN_DIR: what ``python -m vgg_gluon.train --out RUN_DIR`` wrote; LOG: its
standard output (the book's epoch lines are kept); OUT: the directory to
fill (log.txt, metrics.jsonl, config.json, learning_curve.png, command.txt;
the parameters stay out of git).
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys


def cpu_name():
    out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
    name = next((line.split(':', 1)[1].strip() for line in out.splitlines()
                 if line.startswith('Model name')), platform.processor())
    flags = open('/proc/cpuinfo').read()
    return f"{name}, {os.cpu_count()} cores, {'AVX-512' if 'avx512f' in flags else 'no AVX-512'}"


def plot(records, path, title):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    epochs = [r['epoch'] for r in records]
    fig, ax = plt.subplots(figsize=(3.5, 2.5))
    ax.plot(epochs, [r['loss'] for r in records], label='train loss')
    ax.plot(epochs, [r['train_acc'] for r in records], '--', label='train acc')
    ax.plot(epochs, [r['test_acc'] for r in records], '-.', label='test acc')
    ax.set_xlabel('epoch')
    ax.set_title(title, fontsize=8)
    ax.grid(True)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('run_dir')
    p.add_argument('log')
    p.add_argument('out')
    p.add_argument('--command', required=True)
    p.add_argument('--note', default='')
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    lines = [line for line in open(args.log).read().splitlines()
             if line.startswith(('training on', 'epoch '))]
    with open(os.path.join(args.out, 'log.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    for name in ('metrics.jsonl', 'config.json'):
        shutil.copy(os.path.join(args.run_dir, name), os.path.join(args.out, name))
    records = [json.loads(line) for line in open(os.path.join(args.run_dir, 'metrics.jsonl'))]
    manifest = json.load(open(os.path.join(args.run_dir, 'checkpoint.json')))
    best = manifest.get('best', {})
    plot(records, os.path.join(args.out, 'learning_curve.png'),
         f"{os.path.basename(args.out.rstrip('/'))}: final test acc {records[-1]['test_acc']:.3f}"
         f", best {best.get('test_acc', 0):.3f} (epoch {best.get('epoch')})")
    with open(os.path.join(args.out, 'command.txt'), 'w') as f:
        f.write(f"# run from the repository root; {args.note}\n{args.command}\n"
                f"# CPU: {cpu_name()}\n"
                f"# epochs' time sum {sum(r['time'] for r in records):.0f} s; "
                f"best epoch {best.get('epoch')} ({best.get('test_acc')})\n")
    return 0


if __name__ == '__main__':
    sys.exit(main())
