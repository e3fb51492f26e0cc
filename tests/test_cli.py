"""``python -m vgg_gluon.train`` end to end, and every bad input refused cleanly."""
import gzip
import json
import os
import shutil
import subprocess
import sys

import pytest

from vgg_gluon.train import main, parse_config

QUICK = ['--ratio', '8', '--scale-dense', '--resize', '32', '--optimizer', 'adam',
         '--lr', '0.001', '--batch-size', '64', '--train-samples', '1000',
         '--test-samples', '500', '--epochs', '2', '--quiet']
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, '-m', 'vgg_gluon.train', *args], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, 'PYTHONPATH': ROOT})


def test_defaults_are_seed_000s_recipe():
    config = parse_config([])
    assert (config.arch, config.ratio, config.resize, config.lr, config.batch_size,
            config.epochs, config.optimizer) == ('vgg11', 4, 96, 0.05, 128, 5, 'sgd')


@pytest.mark.slow
def test_end_to_end_in_a_subprocess(tmp_path):
    out = tmp_path / 'run'
    proc = run_cli(*QUICK, '--out', str(out))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == 'training on cpu(0)'
    assert lines[1].startswith('epoch 1, loss ') and lines[2].startswith('epoch 2, loss ')
    assert sorted(os.listdir(out)) == ['.lock', 'best.params', 'checkpoint.json', 'checkpoints',
                                       'config.json', 'metrics.jsonl', 'model.params']
    config = json.loads((out / 'config.json').read_text())
    assert config['ratio'] == 8 and config['train_samples'] == 1000
    records = [json.loads(line) for line in (out / 'metrics.jsonl').read_text().splitlines()]
    assert [r['epoch'] for r in records] == [1, 2]
    assert records[-1]['test_acc'] > 0.3            # chance is 0.1
    assert proc.stderr == ''                        # --quiet: no progress lines on the pipe


@pytest.mark.slow
def test_same_seed_same_numbers(tmp_path, capsys):
    histories = []
    for name in ('a', 'b', 'c'):
        seed = '1' if name == 'c' else '0'
        assert main(QUICK + ['--epochs', '1', '--seed', seed, '--out', str(tmp_path / name)]) == 0
        record = json.loads((tmp_path / name / 'metrics.jsonl').read_text())
        histories.append((record['loss'], record['train_acc'], record['test_acc']))
    assert histories[0] == histories[1]
    assert histories[0] != histories[2]


BAD = [
    (['--ratio', '0'], '--ratio: ratio must be an integer from 1 to 64'),
    (['--ratio', '65'], '--ratio: ratio must be an integer from 1 to 64'),
    (['--arch', '1x16,1x32,2x64,2x64,2x64', '--ratio', '17'], 'from 1 to 16'),
    (['--ratio', 'x'], 'argument --ratio: must be a positive integer'),
    (['--resize', '31'], '--resize: must be an integer from 32'),
    (['--resize', '0'], '--resize: must be an integer from 32'),
    (['--resize', '1000000000'], '--resize: must be an integer from 32 (5 poolings halve it) to 448'),
    (['--resize', '96.5'], 'argument --resize: must be an integer from 32 to 448'),
    (['--seed', '-1'], '--seed: must be an integer from 0 to 2**32 - 1'),
    (['--lr', '0'], '--lr: must be a positive number'),
    (['--lr', '-0.1'], '--lr: must be a positive number'),
    (['--lr', 'nan'], '--lr: must be a positive number'),
    (['--epochs', '0'], '--epochs: must be a positive integer'),
    (['--batch-size', '0'], '--batch-size: must be a positive integer'),
    (['--batch-size', '-3'], '--batch-size: must be a positive integer'),
    # values MXNet's float32 operators refuse, and counts the run directory cannot hold
    (['--epochs', '10001'], '--epochs: must be a positive integer, at most 10000'),
    (['--batch-size', '60001'], '--batch-size: must be a positive integer, at most 60000'),
    (['--lr', '1e-50'], "--lr: must be a positive number from 1e-30 to 1e+30 (MXNet's float32)"),
    (['--lr', '1e39'], "--lr: must be a positive number from 1e-30 to 1e+30 (MXNet's float32)"),
    (['--wd', '1e39'], "--wd: must be a finite number >= 0: 0 or 1e-30 to 1e+30"),
    (['--momentum', '1e-50'], '--momentum: must be a number in [0, 1), 0 or at least 1e-30'),
    (['--dropout', '1e-50'], '--dropout: must be a number in [0, 1), 0 or at least 1e-30'),
    (['--label-smoothing', '1e-50'], '--label-smoothing: must be a number in [0, 1), 0 or at'),
    (['--lr-schedule', 'step', '--lr-steps', '2', '--lr-factor', '1e-50'],
     '--lr-factor: must be a number in (0, 1], at least 1e-30'),
    (['--arch', 'vgg99'], "--arch: unknown architecture 'vgg99': choose one of vgg11"),
    (['--optimizer', 'rmsprop'], "argument --optimizer: invalid choice: 'rmsprop'"),
    (['--gpus', '3'], '--gpus: asked for GPU 3'),
    (['--gpus', 'x'], '--gpus: must be auto, cpu or distinct GPU ids'),
    (['--data-dir', '/nonexistent'], '--data-dir: data directory /nonexistent does not exist'),
    (['--train-samples', '60001'], '--train-samples: must be from 1 to 60000'),
    (['--test-samples', '10001'], '--test-samples: must be from 1 to 10000'),
    (['--train-samples', '0'], '--train-samples: must be a positive integer'),
    # the training toolkit
    (['--momentum', '1'], '--momentum: must be a number in [0, 1)'),
    (['--momentum', '-0.1'], '--momentum: must be a number in [0, 1)'),
    (['--momentum', 'nan'], '--momentum: must be a number in [0, 1)'),
    (['--optimizer', 'adam', '--momentum', '0.9'], '--momentum: applies to sgd and nag'),
    (['--wd=-1e-4'], '--wd: must be a finite number >= 0'),
    (['--wd', 'inf'], '--wd: must be a finite number >= 0'),
    (['--wd', 'nan'], '--wd: must be a finite number >= 0'),
    (['--lr-schedule', 'linear'], "argument --lr-schedule: invalid choice: 'linear'"),
    (['--warmup-epochs', '5'], '--warmup-epochs: must be a number from 0 to less than --epochs'),
    (['--warmup-epochs', '-1'], '--warmup-epochs: must be a number from 0 to less than --epochs'),
    (['--lr-schedule', 'step'], '--lr-steps: --lr-schedule step needs increasing epochs'),
    (['--lr-schedule', 'step', '--lr-steps', '3,2'], '--lr-steps: --lr-schedule step needs'),
    (['--lr-steps', '2'], '--lr-steps: only with --lr-schedule step'),
    (['--lr-steps', '2,x'], 'argument --lr-steps: must be increasing epochs like 30,60'),
    (['--lr-schedule', 'step', '--lr-steps', '2', '--lr-factor', '0'],
     '--lr-factor: must be a number in (0, 1]'),
    (['--label-smoothing', '1'], '--label-smoothing: must be a number in [0, 1)'),
    (['--label-smoothing', '-0.1'], '--label-smoothing: must be a number in [0, 1)'),
    (['--augment', 'rotate'], "--augment: must be none or a comma-separated list of"),
    (['--augment', 'flip,flip'], "--augment: must be none or a comma-separated list of"),
    (['--augment', ''], "--augment: must be none or a comma-separated list of"),
    (['--augment', 'crop,flip', '--scale-jitter', '96,128'],
     '--augment: scale jittering makes its own crops: with --scale-jitter use flip and/or '
     'erase, not crop'),
    (['--augment', 'resized-crop', '--scale-jitter', '96,128'], 'erase, not resized-crop'),
]


@pytest.mark.parametrize('args, message', BAD, ids=[' '.join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_status_2(args, message, tmp_path, capsys):
    out = tmp_path / 'run'
    try:
        status = main(args + ['--out', str(out)])
    except SystemExit as exit:                      # argparse's own errors
        status = exit.code
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert err.startswith('python -m vgg_gluon.train: error: ')
    assert not out.exists()                         # nothing written


@pytest.mark.slow
def test_bad_data_dirs_in_a_subprocess(fmnist_dir, tmp_path):
    """Missing files and a corrupt IDX file: one line, status 2, no traceback."""
    empty = tmp_path / 'empty'
    empty.mkdir()
    proc = run_cli('--data-dir', str(empty), '--out', str(tmp_path / 'r1'))
    assert proc.returncode == 2 and 'lacks train-images-idx3-ubyte' in proc.stderr
    corrupt = tmp_path / 'corrupt'
    shutil.copytree(fmnist_dir, corrupt)
    labels = corrupt / 't10k-labels-idx1-ubyte.gz'
    with gzip.open(labels) as f:
        content = f.read()
    labels.write_bytes(gzip.compress(content[:-10]))
    proc = run_cli('--data-dir', str(corrupt), '--out', str(tmp_path / 'r2'))
    assert proc.returncode == 2 and proc.stdout == ''
    assert proc.stderr.count('\n') == 1 and 'Traceback' not in proc.stderr
    assert str(labels) in proc.stderr and 'truncated' in proc.stderr
    assert not (tmp_path / 'r2').exists()


def test_existing_run_directory_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / 'run'
    out.mkdir()
    (out / 'metrics.jsonl').write_text('precious\n')
    assert main(QUICK + ['--out', str(out)]) == 2
    assert 'already exists and is not empty' in capsys.readouterr().err
    assert (out / 'metrics.jsonl').read_text() == 'precious\n'


@pytest.mark.slow
def test_divergence_exits_1_with_a_hint(tmp_path):
    proc = run_cli('--ratio', '8', '--scale-dense', '--resize', '32', '--lr', '1e6', '--epochs', '1',
                   '--train-samples', '256', '--test-samples', '64', '--quiet',
                   '--out', str(tmp_path / 'run'))
    assert proc.returncode == 1
    assert 'lower the learning rate (--lr, now 1e+06)' in proc.stderr
    assert 'Traceback' not in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize('command', ['train', 'summary', 'evaluate', 'predict', 'export',
                                     'testtime', 'launch'])
def test_every_command_prints_help_and_exits_0(command):
    proc = subprocess.run([sys.executable, '-m', f'vgg_gluon.{command}', '--help'],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('usage: python -m vgg_gluon.' + command) and not proc.stderr


def test_help_states_every_maximum_it_enforces(capsys):
    """--help says the bounds validate() enforces, so a refusal is never a surprise."""
    with pytest.raises(SystemExit):
        main(['--help'])
    text = ' '.join(capsys.readouterr().out.split())
    for stated in ('input side in pixels, at most 448', 'passes over the training images, at most '
                   '10000', 'at most 60000', 'learning rate, 1e-30 to 1e+30',
                   'weight decay (L2), 0 or 1e-30 to 1e+30', 'the factor at each step, 1e-30 to 1'):
        assert stated in text, stated
