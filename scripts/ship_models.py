"""Re-create the weights shipped inside the package (vgg_gluon/checkpoint/weights/NAME/).

    .venv/bin/python scripts/ship_models.py              # train fast, seed 0, and ship it
    .venv/bin/python scripts/ship_models.py --from runs/fast-ship   # ship a finished run
    .venv/bin/python scripts/ship_models.py --compare runs/fast-ship2  # rerun: bit-identical?

The run is `python -m vgg_gluon.train --recipe fast --seed 0 --out runs/fast-ship`
(about 2 minutes on 2 cores). Its last epoch's parameters, its config.json and
a manifest (command, date, CPU, load, test accuracy, each file's size and sha256)
are copied into the package. --compare trains the same run into another directory
(unless it holds one already), ships nothing, and says whether its parameters are
byte for byte the shipped ones.
"""
import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)   # a script of this checkout, not of an installed vgg_gluon

from vgg_gluon.checkpoint.zoo import FILES, MANIFEST, WEIGHTS  # noqa: E402
from vgg_gluon.runtime.atomic import file_digest  # noqa: E402
from vgg_gluon.training.measure import load_average, machine, utc_now  # noqa: E402

RECIPE, SEED = 'fast', 0


def train(out):
    command = [sys.executable, '-m', 'vgg_gluon.train', '--recipe', RECIPE, '--seed', str(SEED),
               '--out', out, '--quiet']
    print(' '.join(command), flush=True)
    trained = {'started': utc_now(), 'load_average_at_start': load_average()}
    subprocess.run(command, cwd=ROOT, check=True)
    trained['ended'] = utc_now()
    return trained


def last_record(run_dir):
    with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
        return [json.loads(line) for line in f if line.strip()][-1]


def ship(run_dir, name, header, trained=None):
    with open(os.path.join(run_dir, 'checkpoint.json')) as f:
        checkpoint = json.load(f)
    folder = os.path.join(WEIGHTS, name)
    os.makedirs(folder, exist_ok=True)
    shutil.copyfile(os.path.join(run_dir, checkpoint['files']['params']),
                    os.path.join(folder, 'model.params'))
    shutil.copyfile(os.path.join(run_dir, 'config.json'), os.path.join(folder, 'config.json'))
    record = last_record(run_dir)
    manifest = {
        'name': name, 'recipe': RECIPE, 'seed': SEED, 'epoch': checkpoint['epoch'],
        'test_acc': record['test_acc'], 'train_acc': record['train_acc'],
        'command': f"python -m vgg_gluon.train --recipe {RECIPE} --seed {SEED} --out {run_dir}",
        'made_by': 'python scripts/ship_models.py', 'shipped': header,
        'trained': trained or {'note': 'shipped from a finished run (--from)'},
        'files': {f: file_digest(os.path.join(folder, f)) for f in FILES},
    }
    with open(os.path.join(folder, MANIFEST), 'w') as f:
        json.dump(manifest, f, indent=1)
        f.write('\n')
    print(f"shipped {folder}: test acc {record['test_acc']:.4f}, "
          f"{manifest['files']['model.params']['size']} bytes of parameters")


def compare(run_dir, name):
    with open(os.path.join(run_dir, 'checkpoint.json')) as f:
        params = json.load(f)['files']['params']
    theirs = file_digest(os.path.join(run_dir, params))['sha256']
    with open(os.path.join(WEIGHTS, name, MANIFEST)) as f:
        ours = json.load(f)['files']['model.params']['sha256']
    same = theirs == ours
    print(f"{run_dir}: sha256 {theirs}; shipped {name}: {ours}: "
          f"{'bit-identical' if same else 'DIFFERENT'}")
    return 0 if same else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--from', dest='run_dir', help='ship this finished run instead of training')
    p.add_argument('--compare', help='say whether this run is bit-identical to the shipped one')
    p.add_argument('--out', default='runs/fast-ship', help='where the run is trained')
    p.add_argument('--name', default=RECIPE)
    args = p.parse_args()
    if args.compare:
        if not os.path.isfile(os.path.join(args.compare, 'checkpoint.json')):
            train(args.compare)       # the same command again, into another directory
        return compare(args.compare, args.name)
    header = {'cpu': machine(), 'started': utc_now(), 'load_average_at_start': load_average()}
    trained = None
    if args.run_dir is None:
        trained = train(args.out)
        args.run_dir = args.out
    ship(args.run_dir, args.name, header, trained)
    return 0


if __name__ == '__main__':
    sys.exit(main())
