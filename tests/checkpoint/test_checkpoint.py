"""Checkpoints and exact resume: kill -9, SIGTERM, Ctrl-C, NaN, and refused run directories.

One small real run (VGG of two blocks on 1000 Fashion-MNIST images, 32 px,
three epochs of Adam) is the reference; interrupted runs must end exactly
where it ended, bit for bit, on the same machine.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import mxnet as mx

from run_helpers import dir_hash as _dir_hash, metrics as _metrics
from vgg_gluon import train
from vgg_gluon.runtime import atomic, signals as interrupt
from vgg_gluon.checkpoint import reader as rundir
from vgg_gluon.models.vgg import build_net
from vgg_gluon.config import Config

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))  # the checkout
ARGS = ['--arch', '1x32,1x64', '--ratio', '8', '--scale-dense', '--resize', '32',
        '--optimizer', 'adam', '--lr', '0.002', '--batch-size', '64',
        '--train-samples', '1000', '--test-samples', '300', '--epochs', '3', '--quiet']


def _params(run_dir):
    return mx.nd.load(os.path.join(run_dir, 'model.params'))


def _assert_same_params(a, b):
    pa, pb = _params(a), _params(b)
    assert sorted(pa) == sorted(pb)
    for name in pa:
        assert np.array_equal(pa[name].asnumpy(), pb[name].asnumpy()), name


# The training toolkit on: momentum (Nesterov), weight decay (none on BatchNorm and
# biases), a warm-up then cosine schedule, label smoothing and every augmentation.
TOOLKIT = ['--arch', '1x32,1x64-bn', '--optimizer', 'nag', '--momentum', '0.9', '--lr', '0.05',
           '--wd', '5e-3', '--lr-schedule', 'cosine', '--warmup-epochs', '1',
           '--label-smoothing', '0.1', '--augment', 'resized-crop,crop,flip,erase']


def _start(out, *extra, args=ARGS):
    """``python -m vgg_gluon.train`` in a child process."""
    return subprocess.Popen([sys.executable, '-m', 'vgg_gluon.train', *args, '--out', out, *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_checkpoint(proc, run_dir, timeout=120):
    """Block until the first checkpoint's manifest exists (the run is then in epoch 2)."""
    manifest = os.path.join(run_dir, rundir.MANIFEST)
    deadline = time.monotonic() + timeout
    while not os.path.exists(manifest):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, 'no checkpoint appeared'
        time.sleep(0.02)


def _straddle_dense_counter():
    """Make the next network's Dense layers dense8/9/10 (or 98/99/100, ...).

    Gluon numbers layers with process-wide counters and Trainer sorts a dict
    of parameters by name, so in such a network the optimizer states' order
    differs from a fresh process's: a resume must not depend on it.
    """
    from mxnet.gluon import nn
    following = int(nn.Dense(1).name[len('dense'):]) + 1
    target = next(t for t in (8, 98, 998, 9998) if t >= following)
    for _ in range(target - following):
        nn.Dense(1)


@pytest.fixture(scope='module')
def reference(tmp_path_factory, fmnist_dir):
    """An uninterrupted three-epoch run, in this process."""
    out = str(tmp_path_factory.mktemp('ckpt') / 'reference')
    assert train.main(ARGS + ['--out', out]) == 0
    return out


@pytest.mark.slow
def test_reference_learns_and_checkpoints(reference):
    records = _metrics(reference)
    assert [r['epoch'] for r in records] == [1, 2, 3]
    assert records[-1]['loss'] < records[0]['loss']
    assert records[-1]['test_acc'] > 0.6          # 10 classes: chance is 0.1
    manifest = rundir.read_checkpoint(reference)
    assert manifest['epoch'] == 3 and manifest['format_version'] == rundir.FORMAT_VERSION
    assert sorted(os.listdir(os.path.join(reference, 'checkpoints'))) == [
        'epoch-0003.params', 'epoch-0003.states.nd']       # older epochs are pruned
    # model.params + config.json still serve readers that know no checkpoints
    net, config, _ = rundir.load_model(reference)
    assert config.arch == '1x32,1x64' and config.epochs == 3
    saved = _params(reference)
    for name, param in net._collect_params_with_prefix().items():
        assert np.array_equal(param.data().asnumpy(), saved[name].asnumpy())


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_ends_like_the_uninterrupted_run(reference, tmp_path):
    out = str(tmp_path / 'killed')
    proc = _start(out)
    _wait_for_checkpoint(proc, out)
    time.sleep(0.3)                     # into epoch 2
    proc.kill()                         # SIGKILL: no handler runs, no cleanup
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert rundir.read_checkpoint(out)['epoch'] < 3
    _straddle_dense_counter()
    assert train.main(['--resume', out]) == 0
    assert _metrics(out) == _metrics(reference)
    _assert_same_params(out, reference)
    assert rundir.read_checkpoint(out)['resumes'][0]['changes'] == {}


@pytest.fixture(scope='module')
def toolkit_reference(tmp_path_factory, fmnist_dir):
    """An uninterrupted three-epoch run with the training toolkit on, in this process."""
    out = str(tmp_path_factory.mktemp('ckpt') / 'toolkit')
    assert train.main(ARGS + TOOLKIT + ['--out', out]) == 0
    return out


@pytest.mark.slow
def test_kill_9_with_the_toolkit_on_then_resume_ends_like_the_uninterrupted_run(
        toolkit_reference, tmp_path):
    """Momentum, weight decay, the schedule's step count, label smoothing and the
    augmentation's random stream all come back exactly."""
    records = _metrics(toolkit_reference)
    # cosine after one warm-up epoch: at the peak after epoch 1, half at 2, zero at 3
    assert [r['lr'] for r in records] == pytest.approx([0.05, 0.025, 0.0], abs=1e-3)
    assert records[-1]['test_acc'] > 0.25     # heavy augmentation, 3 short epochs; chance 0.1
    out = str(tmp_path / 'killed')
    proc = _start(out, args=ARGS + TOOLKIT)
    _wait_for_checkpoint(proc, out)
    time.sleep(0.3)                     # into epoch 2
    proc.kill()
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert rundir.read_checkpoint(out)['epoch'] < 3
    _straddle_dense_counter()
    assert train.main(['--resume', out]) == 0
    assert _metrics(out) == _metrics(toolkit_reference)
    _assert_same_params(out, toolkit_reference)


@pytest.mark.slow
@pytest.mark.parametrize('flag, value', [('--momentum', '0.5'), ('--wd', '0'),
                                         ('--augment', 'flip'), ('--lr-schedule', 'onecycle'),
                                         ('--label-smoothing', '0')])
def test_the_toolkit_settings_cannot_change_on_resume(toolkit_reference, capsys, flag, value):
    assert train.main(['--resume', toolkit_reference, flag, value, '--epochs', '4']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and f'{flag}: {toolkit_reference} was trained with' in err


@pytest.mark.slow
def test_sigterm_and_ctrl_c_stop_cleanly_with_a_resume_hint(reference, tmp_path, capsys):
    runs = {signal.SIGTERM: str(tmp_path / 'term'), signal.SIGINT: str(tmp_path / 'int')}
    procs = {sig: _start(out, '--epochs', '6') for sig, out in runs.items()}  # far from done
    for sig, proc in procs.items():
        _wait_for_checkpoint(proc, runs[sig])
        proc.send_signal(sig)
    for sig, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 128 + sig, (sig, _, err)
        assert 'Traceback' not in err
        assert f"python -m vgg_gluon.train --resume {runs[sig]}" in err
        assert rundir.read_checkpoint(runs[sig]) is not None
    # what SIGTERM left goes on to the reference's second epoch exactly
    term = runs[signal.SIGTERM]
    target = max(2, rundir.read_checkpoint(term)['epoch'])
    assert train.main(['--resume', term, '--epochs', str(target)]) == 0
    assert _metrics(term) == _metrics(reference)[:target]


def test_a_signal_that_a_finalizer_drops_is_raised_at_the_next_batch_or_checkpoint(
        monkeypatch, fmnist_dir):
    """Python runs the handler inside whatever bytecode runs, a ``__del__`` too,
    and drops an exception raised there: the run went on and exited 0. The
    noted signal is raised at the next batch, or once the checkpoint being
    written is whole, instead."""
    from vgg_gluon.training import runner as training
    dropped = []
    monkeypatch.setattr(sys, 'unraisablehook', dropped.append)

    class Finalized:
        def __del__(self):
            signal.raise_signal(signal.SIGTERM)  # the handler runs here, inside __del__

    config = Config(resize=32, batch_size=16, train_samples=64, test_samples=32,
                    data_dir=fmnist_dir)
    train_iter, _ = training.load_data(config)
    train_iter.on_batch = training._stop_check(None)  # what training puts on every iterator
    with interrupt.stop_on_signals():
        batches = iter(train_iter)
        next(batches)
        Finalized()  # collected at once: its Interrupted is dropped
        assert [type(d.exc_value) for d in dropped] == [interrupt.Interrupted]
        with pytest.raises(interrupt.Interrupted) as err:
            next(batches)  # the next batch raises it
        assert err.value.exit_status == 128 + signal.SIGTERM
        with interrupt.deferred():
            pass  # raised once only
        written = []
        with pytest.raises(interrupt.Interrupted):
            with interrupt.deferred():
                written.append('checkpoint')
                Finalized()  # dropped while a checkpoint is written: raised after it
        assert written == ['checkpoint'] and len(dropped) == 1  # deferred: nothing to drop
    with interrupt.stop_on_signals(), interrupt.deferred():
        pass  # a new run does not inherit the old signal


@pytest.mark.slow
def test_resume_of_a_finished_run_does_nothing(reference, capsys):
    before = _dir_hash(reference)
    assert train.main(['--resume', reference]) == 0
    assert 'finished all 3 epochs' in capsys.readouterr().out
    assert _dir_hash(reference) == before


@pytest.mark.slow
def test_nan_loss_leaves_the_last_checkpoint_intact(reference, tmp_path, capsys):
    run_dir = str(tmp_path / 'nan')
    shutil.copytree(reference, run_dir)
    before = _dir_hash(run_dir)
    assert train.main(['--resume', run_dir, '--epochs', '4', '--lr', '1e30']) == 1
    err = capsys.readouterr().err
    assert 'lower the learning rate' in err and f'--resume {run_dir} --lr' in err
    assert _dir_hash(run_dir) == before


def _break_params(run_dir):
    path = os.path.join(run_dir, 'checkpoints', 'epoch-0003.params')
    with open(path, 'rb+') as f:
        f.truncate(os.path.getsize(path) // 2)


def _unknown_key(run_dir):
    path = os.path.join(run_dir, 'config.json')
    with open(path) as f:
        values = json.load(f)
    values['mixup_alpha'] = 0.2  # a setting this version does not have
    with open(path, 'w') as f:
        json.dump(values, f)


def _newer_format(run_dir):
    path = os.path.join(run_dir, rundir.MANIFEST)
    with open(path) as f:
        manifest = json.load(f)
    manifest['format_version'] = rundir.FORMAT_VERSION + 1
    with open(path, 'w') as f:
        json.dump(manifest, f)


def _foreign_params(run_dir):
    """model.params of a network with other channel counts, no manifest."""
    os.remove(os.path.join(run_dir, rundir.MANIFEST))
    shutil.rmtree(os.path.join(run_dir, 'checkpoints'))
    net = build_net(Config(arch='1x32,1x64', ratio=4, scale_dense=True, resize=32))
    net.initialize()
    net(mx.nd.zeros((1, 1, 32, 32)))
    net.save_parameters(os.path.join(run_dir, 'model.params'))


BROKEN = {  # name: (how to break a copy of the reference, word the error must contain)
    'truncated-params': (_break_params, 'truncated'),
    'unknown-config-key': (_unknown_key, 'mixup_alpha'),
    'newer-format': (_newer_format, 'newer'),
}


def _refused(capsys, main, argv, word):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and 'Traceback' not in err, err
    assert word in err, err


@pytest.mark.slow
@pytest.mark.parametrize('case', sorted(BROKEN))
def test_untrustworthy_run_directories_are_refused(reference, tmp_path, capsys, case):
    from vgg_gluon import evaluate, export
    run_dir = str(tmp_path / case)
    shutil.copytree(reference, run_dir)
    breaker, word = BROKEN[case]
    breaker(run_dir)
    before = _dir_hash(run_dir)
    _refused(capsys, train.main, ['--resume', run_dir, '--epochs', '4'], word)
    _refused(capsys, evaluate.main, [run_dir], word)
    _refused(capsys, export.main, [run_dir], word)
    assert _dir_hash(run_dir) == before


@pytest.mark.slow
def test_parameters_of_another_network_are_refused(reference, tmp_path, capsys):
    from vgg_gluon import evaluate, export, predict
    run_dir = str(tmp_path / 'foreign')
    shutil.copytree(reference, run_dir)
    _foreign_params(run_dir)
    before = _dir_hash(run_dir)
    _refused(capsys, evaluate.main, [run_dir], 'shape incompatible')
    _refused(capsys, export.main, [run_dir], 'shape incompatible')
    _refused(capsys, predict.main, [run_dir, 'any.png'], 'shape incompatible')
    assert _dir_hash(run_dir) == before


@pytest.mark.slow
@pytest.mark.parametrize('argv, word', [
    (['--ratio', '4'], '--ratio'),
    (['--arch', 'vgg11'], '--arch'),
    (['--batch-size', '32'], '--batch-size'),
    (['--epochs', '2'], 'at least 3'),
    (['--out', 'elsewhere'], '--out'),
])
def test_conflicting_flags_on_resume_are_refused(reference, capsys, argv, word):
    before = _dir_hash(reference)
    _refused(capsys, train.main, ['--resume', reference] + argv, word)
    assert _dir_hash(reference) == before


@pytest.mark.slow
def test_asking_for_another_architecture_or_ratio_is_refused(reference, capsys):
    from vgg_gluon import evaluate, export
    before = _dir_hash(reference)
    _refused(capsys, evaluate.main, [reference, '--ratio', '4'], '--ratio')
    _refused(capsys, export.main, [reference, '--arch', 'vgg11'], '--arch')
    assert _dir_hash(reference) == before


@pytest.mark.slow
@pytest.mark.parametrize('other', ['1x32,1x64-bn', '1x32,1x64-lrn', '1x32,1x64:1', '1x32,2x64'])
def test_another_architecture_of_the_same_blocks_is_refused(reference, capsys, other):
    """--arch is compared by the whole spec: batch norm, LRN, kernel sizes, convs."""
    from vgg_gluon import evaluate, predict
    _refused(capsys, evaluate.main, [reference, '--arch', other], other)
    _refused(capsys, predict.main, [reference, 'any.png', '--arch', other], '1x32,1x64')
    assert evaluate.main([reference, '--arch', '1x32:3,1x64:3', '--test-samples', '10']) == 0


def test_a_vgg11_run_is_not_a_vgg11_bn_run():
    from vgg_gluon.errors import CheckpointError
    from vgg_gluon.checkpoint.reader import check_expected
    config = Config(arch='vgg11', ratio=4)
    check_expected(config, 'runs/x', arch='vgg11', ratio=4)
    check_expected(config, 'runs/x', arch='1x64,1x128,2x256,2x512,2x512')  # the same network
    for other in ('vgg11-bn', 'vgg11-lrn', 'vgg16-c', 'vgg13'):
        with pytest.raises(CheckpointError) as err:
            check_expected(config, 'runs/x', arch=other)
        assert err.value.flag == 'arch'
        assert 'vgg11' in str(err.value) and other in str(err.value)
    with pytest.raises(CheckpointError) as err:
        check_expected(Config(arch='vgg11', ratio=4, scale_dense=True), 'runs/x', ratio=8)
    assert err.value.flag == 'ratio'


@pytest.mark.slow
def test_a_half_written_next_checkpoint_is_ignored(reference, tmp_path):
    """What a kill between the parameter file and the manifest leaves behind."""
    run_dir = str(tmp_path / 'torn')
    shutil.copytree(reference, run_dir)
    ckpt = os.path.join(run_dir, 'checkpoints')
    with open(os.path.join(ckpt, 'epoch-0004.params'), 'wb') as f:
        f.write(b'partial')
    with open(os.path.join(ckpt, '.epoch-0004.states.nd.tmp-99'), 'wb') as f:
        f.write(b'partial')
    assert rundir.read_checkpoint(run_dir)['epoch'] == 3


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / 'f.txt'
    atomic.atomic_write_text(str(path), 'old')

    def fail(tmp):
        with open(tmp, 'w') as f:
            f.write('half')
        raise OSError('disk full')

    with pytest.raises(OSError):
        atomic.atomic_write(str(path), fail)
    assert path.read_text() == 'old'
    assert os.listdir(tmp_path) == ['f.txt']


@pytest.mark.slow
def test_evaluate_predict_export_take_the_best_or_the_last_epoch(toolkit_reference, tmp_path,
                                                                  capsys):
    from vgg_gluon import evaluate
    manifest = rundir.read_checkpoint(toolkit_reference)
    best = manifest['best']
    records = _metrics(toolkit_reference)
    assert best['test_acc'] == max(r['test_acc'] for r in records)
    assert best['epoch'] == min(r['epoch'] for r in records if r['test_acc'] == best['test_acc'])
    for epoch, expected in (('best', best['epoch']), ('last', 3)):
        assert evaluate.main([toolkit_reference, '--epoch', epoch, '--test-samples', '300',
                              '--out', str(tmp_path / epoch)]) == 0
        out = capsys.readouterr().out
        assert f'(epoch {expected},' in out
        accuracy = json.loads((tmp_path / epoch / 'evaluation.json').read_text())['accuracy']
        assert accuracy == pytest.approx(records[expected - 1]['test_acc'], abs=1e-9)
    with pytest.raises(SystemExit) as exit:
        evaluate.main([toolkit_reference, '--epoch', 'first'])
    assert exit.value.code == 2 and "--epoch: invalid choice: 'first'" in capsys.readouterr().err
