"""A run directory from someone else deletes nothing of yours (issue 26):
confined manifest names, symlinked checkpoints/ refused, pruning only our
patterns, unpredictable temporaries, one writer per run directory, strict
and bounded JSON, every setting's type checked."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from vgg_gluon.checkpoint import reader
from vgg_gluon.checkpoint.resume import prepare
from vgg_gluon.checkpoint.writer import PRUNABLE
from vgg_gluon.config import Config
from vgg_gluon.errors import CheckpointError, ConfigError, RunDirBusy
from vgg_gluon.runtime.atomic import atomic_write_text
from vgg_gluon.runtime.lock import writer_lock


def _run_dir(tmp_path, name='run'):
    run = tmp_path / name
    run.mkdir()
    (run / 'config.json').write_text(json.dumps(Config(resize=32).to_dict()))
    return run


def test_symlinked_checkpoints_refused_and_victims_intact(tmp_path):
    victims = tmp_path / 'precious'
    victims.mkdir()
    for name in ('thesis.tex', 'epoch-0001.params'):
        (victims / name).write_text('mine')
    run = _run_dir(tmp_path)
    os.symlink(victims, run / 'checkpoints')
    with pytest.raises(CheckpointError, match='symbolic link') as err:
        prepare(str(run), {})
    assert err.value.flag == 'resume'
    assert sorted(os.listdir(victims)) == ['epoch-0001.params', 'thesis.tex']


def test_pruning_knows_only_our_names():
    ours = ['epoch-0001.params', 'epoch-0012.states.nd', '.epoch-0004.states.nd.tmp-99',
            '.epoch-0003.params.tmp-k2j_x9']
    theirs = ['thesis.tex', 'epoch-1.params', 'notes.params', '.bashrc', 'epoch-0001.params.bak']
    assert all(PRUNABLE.fullmatch(n) for n in ours)
    assert not any(PRUNABLE.fullmatch(n) for n in theirs)


def test_planted_temporaries_are_not_followed(tmp_path):
    target = tmp_path / 'victim.txt'
    target.write_text('untouched')
    out = tmp_path / 'run'
    out.mkdir()
    for pid in range(os.getpid() - 50, os.getpid() + 300):   # the old predictable names
        os.symlink(target, out / f'.evaluation.json.tmp-{pid}')
    atomic_write_text(str(out / 'evaluation.json'), '{"accuracy": 0.9}')
    assert target.read_text() == 'untouched'
    assert (out / 'evaluation.json').read_text() == '{"accuracy": 0.9}'
    assert not (out / 'evaluation.json').is_symlink()
    assert (os.stat(out / 'evaluation.json').st_mode & 0o777) == 0o666 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize('name', ['../other/checkpoints/epoch-0001.params', '/etc/passwd',
                                  'checkpoints/../../x', 'checkpoints//epoch-0001.params', ''])
def test_manifest_names_stay_inside(tmp_path, name):
    run = _run_dir(tmp_path)
    with pytest.raises(CheckpointError) as err:
        reader.inside(str(run), name, 'checkpoint.json')
    message = str(err.value)
    assert 'outside the run directory' in message
    assert str(os.path.getsize('/etc/passwd')) not in message.replace(name, '')


def test_manifest_name_through_a_symlink_out_is_refused(tmp_path):
    run = _run_dir(tmp_path)
    (tmp_path / 'other').mkdir()
    (tmp_path / 'other' / 'epoch-0001.params').write_text('x')
    os.symlink(tmp_path / 'other', run / 'checkpoints')
    with pytest.raises(CheckpointError, match='outside'):
        reader.inside(str(run), 'checkpoints/epoch-0001.params', 'checkpoint.json')
    assert reader.inside(str(run), 'model.params', 'm') == os.path.join(str(run), 'model.params')


@pytest.mark.parametrize('constant', ['NaN', 'Infinity', '-Infinity'])
def test_non_finite_json_refused(tmp_path, constant):
    run = _run_dir(tmp_path)
    (run / 'checkpoint.json').write_text(
        '{"format": "vgg_gluon-checkpoint", "best": {"test_acc": %s}}' % constant)
    with pytest.raises(CheckpointError, match='not a number JSON allows'):
        reader.read_checkpoint(str(run))


_READ_CONFIG = textwrap.dedent('''
    import sys
    from vgg_gluon.checkpoint.reader import load_config
    from vgg_gluon.errors import CheckpointError

    def read_bytes():   # what this process has read so far (Linux: /proc/self/io)
        with open('/proc/self/io') as f:
            return int(next(line for line in f if line.startswith('rchar:')).split()[1])
    before = read_bytes()
    try:
        load_config(sys.argv[1])
    except CheckpointError as err:
        print(err)
    print(read_bytes() - before)
''')


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists('/proc/self/io'), reason='counts reads in /proc/self/io')
def test_oversized_config_refused_without_reading_it_whole(tmp_path):
    """A 54 MB config.json: refused after reading little more than its first MiB
    (counted by the kernel for the process that reads it)."""
    run = _run_dir(tmp_path)
    with open(run / 'config.json', 'w') as f:
        f.write('{"seed": 0, "pad": "' + 'x' * (54 << 20) + '"}')
    done = subprocess.run([sys.executable, '-c', _READ_CONFIG, str(run)], capture_output=True,
                          text=True, timeout=120, check=True)
    message, measured = done.stdout.strip().splitlines()
    assert 'larger than 1 MiB' in message and '\n' not in message
    assert int(measured) < 2 << 20, f"read {int(measured) / 2**20:.0f} MiB"


@pytest.mark.parametrize('field,value', [('seed', 'x'), ('seed', 1.5), ('seed', True),
                                         ('seed', -1), ('quiet', 'no'), ('hybridize', 1),
                                         ('lr', 'x'), ('resize', 1000000000), ('gpus', 0),
                                         ('extra', [])])
def test_bad_settings_in_config_json_one_line(tmp_path, field, value):
    run = _run_dir(tmp_path)
    values = Config(resize=32).to_dict()
    values[field] = value
    (run / 'config.json').write_text(json.dumps(values))
    with pytest.raises(CheckpointError) as err:
        reader.load_config(str(run))
    assert f'{field}:' in str(err.value) and '\n' not in str(err.value)


def test_resize_has_a_stated_maximum():
    with pytest.raises(ConfigError, match='to 448') as err:
        Config(resize=1000000000).validate()
    assert err.value.flag == 'resize'
    Config(resize=448).validate()


_HOLDER = textwrap.dedent('''
    import sys, time
    from vgg_gluon.runtime.lock import writer_lock
    with writer_lock(sys.argv[1]):
        print('held', flush=True)
        time.sleep(600)
''')


@pytest.mark.slow
def test_second_writer_refused_and_kill_9_does_not_block(tmp_path):
    run = str(tmp_path)
    holder = subprocess.Popen([sys.executable, '-c', _HOLDER, run], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        with pytest.raises(RunDirBusy, match=f'pid {holder.pid}') as err:
            with writer_lock(run):
                pass
        assert err.value.exit_status == 2 and '\n' not in str(err.value)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        assert holder.returncode == -signal.SIGKILL
        with writer_lock(run) as path:     # the dead holder's file stays, its lock does not
            assert open(path).read().strip() == str(os.getpid())
    finally:
        holder.kill()
        holder.wait()


def _train(*args):
    return [sys.executable, '-m', 'vgg_gluon.train', '--resize', '32', '--quiet', '--gpus',
            'cpu', '--test-samples', '256', *args]


@pytest.mark.slow
def test_concurrent_writers_with_real_trainings(tmp_path):
    run = tmp_path / 'D'
    first = subprocess.Popen(_train('--epochs', '3', '--train-samples', '3000', '--out', str(run)),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (run / 'config.json').exists():   # it holds the lock from before config.json
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
            time.sleep(0.05)
        second = subprocess.run(_train('--epochs', '1', '--train-samples', '256', '--out',
                                       str(run)), capture_output=True, text=True, timeout=300)
        assert second.returncode == 2
        assert second.stderr.count('\n') == 1 and '--out' in second.stderr
        resumed = subprocess.run(_train('--resume', str(run), '--epochs', '4'),
                                 capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 2, resumed.stderr
        assert f'pid {first.pid}' in resumed.stderr and resumed.stderr.count('\n') == 1
        assert first.wait(timeout=600) == 0, first.stderr.read()
    finally:
        first.kill()
        first.wait()
    assert json.loads((run / 'checkpoint.json').read_text())['epoch'] == 3


@pytest.mark.slow
def test_two_trainings_started_0_3_s_apart_into_one_new_directory(tmp_path):
    """Neither has created D when the second starts: one trains, the other is
    refused in one line, and D holds the first's complete run only."""
    run = tmp_path / 'D'
    args = _train('--epochs', '1', '--train-samples', '512', '--out', str(run))
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    second = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        results = [(p.wait(timeout=600), p.stderr.read()) for p in (first, second)]
    finally:
        for p in (first, second):
            p.kill()
            p.wait()
    assert sorted(status for status, _ in results) == [0, 2], results
    refused = next(err for status, err in results if status == 2)
    assert refused.count('\n') == 1 and 'Traceback' not in refused, refused
    assert '--out' in refused, refused
    assert reader.read_checkpoint(str(run))['epoch'] == 1
    assert len((run / 'metrics.jsonl').read_text().splitlines()) == 1
