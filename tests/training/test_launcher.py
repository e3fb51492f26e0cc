"""The parameter-server launcher: its flags, the plan, the ssh command, the
interpreter it runs, and its watch of a job (with stand-in processes, no MXNet).

The train command's own refusals of distributed settings are here too: what
the launcher starts must be a job that can work.
"""
import json
import os
import re
import shlex
import signal
import subprocess
import sys

import pytest

from launch_helpers import PY, ROOT, end_of, start_job
from vgg_gluon import launch, train
from vgg_gluon.training import processes as launcher


# ---- the train command line --------------------------------------------------

@pytest.mark.parametrize('argv, flag', [
    (['--kvstore', 'dist_sync'], '--kvstore'),            # not started by the launcher
    (['--kvstore', 'dist_async', '--horovod'], '--horovod'),
    (['--kvstore', 'nccl'], '--kvstore'),
    (['--dropout', '1'], '--dropout'),
])
def test_train_rejects_bad_distributed_flags(argv, flag, capsys, tmp_path, monkeypatch):
    for name in [k for k in os.environ if k.startswith('DMLC_')]:
        monkeypatch.delenv(name)
    out = tmp_path / 'run'
    with pytest.raises(SystemExit) if argv[-1] == 'nccl' else _no_exit():
        assert train.main(argv + ['--out', str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and flag in err, err
    assert not out.exists()


@pytest.mark.parametrize('argv, flag', [
    ([], '--kvstore'),                       # the default, device
    (['--kvstore', 'local'], '--kvstore'),
    (['--horovod'], '--horovod'),
])
def test_a_launcher_worker_refuses_engines_that_cannot_work(argv, flag, capsys, tmp_path,
                                                            monkeypatch):
    # under the launcher, local or device would train unconnected copies that
    # all write one run directory
    monkeypatch.setenv('DMLC_ROLE', 'worker')
    monkeypatch.setenv('DMLC_NUM_WORKER', '2')
    out = tmp_path / 'run'
    assert train.main(argv + ['--out', str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and flag in err, err
    assert 'launch' in err and not out.exists()


class _no_exit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---- the launcher: flags, plan, ssh command -----------------------------------

@pytest.mark.parametrize('argv, words', [
    (['-n', '2', '-s', '1'], 'give the command'),
    (['-n', '0', '-s', '1', '--', 'python'], '-n'),
    (['-n', '2', '--', 'python'], '-s'),
    (['-n', '2', '-s', '1', '--port', '70000', '--', 'python'], '--port'),
    (['-n', '2', '-s', '1', '--'], 'give the command'),
    (['-n', '2', '-s', '1', '--epoch', '3', 'train'], '--epoch'),   # no abbreviations
])
def test_launch_rejects_bad_flags(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        launch.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err, err


def test_launch_rejects_a_bad_hostfile(tmp_path, capsys):
    empty = tmp_path / 'hosts'
    empty.write_text('# nobody\n\n')
    for path in (empty, tmp_path / 'missing'):
        assert launch.main(['-n', '1', '-s', '1', '--hostfile', str(path), '--', 'true']) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and '--hostfile' in err, err


def test_local_plan_is_loopback_with_ascending_ports():
    nodes = launcher.plan(3, 2, 9999)
    assert [n.label for n in nodes] == ['scheduler', 'server 0', 'server 1',
                                        'worker 0', 'worker 1', 'worker 2']
    for node in nodes:
        assert node.env['DMLC_PS_ROOT_URI'] == node.env['DMLC_NODE_HOST'] == '127.0.0.1'
        assert node.env['DMLC_ROLE'] == node.role
        assert (node.env['DMLC_NUM_WORKER'], node.env['DMLC_NUM_SERVER']) == ('3', '2')
    worker_ports = [int(n.env['PORT']) for n in nodes if n.role == 'worker']
    assert worker_ports == sorted(worker_ports)  # ps-lite ranks by port: worker i is rank i


def test_ssh_plan_and_command(tmp_path):
    hostfile = tmp_path / 'hosts'
    hostfile.write_text('node-a  # the scheduler runs here\nnode-b\n')
    hosts = launcher.read_hostfile(str(hostfile))
    nodes = launcher.plan(2, 1, 9091, hosts)
    assert [n.label for n in nodes] == ['scheduler@node-a', 'server 0@node-a',
                                        'worker 0@node-a', 'worker 1@node-b']
    worker = nodes[-1]
    cmd, line = launcher.ssh_command(worker.host, worker.env,
                                     ['python', '-m', 'vgg_gluon.train', '--out', 'runs/a b'],
                                     '/srv/my dir', python='/opt/py/bin/python3')
    assert cmd[:5] == ['ssh', '-T', '-o', 'BatchMode=yes', 'node-b']
    # the remote command line: the bootstrap only; the environment comes on stdin
    assert shlex.split(cmd[5]) == ['exec', '/opt/py/bin/python3', '-c', launcher.REMOTE_BOOTSTRAP]
    assert 'DMLC' not in ' '.join(cmd)
    spec = json.loads(line)
    assert line.endswith('\n') and line.count('\n') == 1
    assert spec['cwd'] == '/srv/my dir'
    assert spec['argv'] == ['python', '-m', 'vgg_gluon.train', '--out', 'runs/a b']
    env = spec['env']
    assert env['DMLC_ROLE'] == 'worker' and env['DMLC_NODE_HOST'] == 'node-b'
    assert env['DMLC_PS_ROOT_URI'] == 'node-a' and env['DMLC_PS_ROOT_PORT'] == '9091'
    assert env['DMLC_NUM_WORKER'] == '2' and env['DMLC_NUM_SERVER'] == '1'


def _bootstrap(spec, *, close_stdin=False):
    """REMOTE_BOOTSTRAP run here, as ssh would run it, given ``spec`` on stdin."""
    proc = subprocess.Popen([sys.executable, '-c', launcher.REMOTE_BOOTSTRAP],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write((json.dumps(spec) + '\n').encode())
    proc.stdin.flush()
    if close_stdin:
        proc.stdin.close()
    return proc


def test_remote_bootstrap_runs_the_command_with_the_environment_and_its_status(tmp_path):
    spec = {'cwd': str(tmp_path), 'env': {'VGG_GLUON_X': 'secret value'},
            'argv': [sys.executable, '-c', 'import os, sys; print(os.getcwd(), '
                     'os.environ["VGG_GLUON_X"]); sys.exit(3)']}
    proc = _bootstrap(spec, close_stdin=False)
    out = proc.stdout.read()   # to the end: the command and the bootstrap have ended
    assert proc.wait(timeout=60) == 3
    assert out.decode().split() == [str(tmp_path), 'secret', 'value']
    # killed by a signal: the bootstrap dies of the same one (ssh then says 255)
    spec['argv'] = [sys.executable, '-c', 'import os, signal; os.kill(os.getpid(), signal.SIGKILL)']
    proc = _bootstrap(spec, close_stdin=False)
    proc.stdout.read()
    assert proc.wait(timeout=60) == -signal.SIGKILL


def test_remote_bootstrap_hangs_up_the_command_when_its_stdin_ends(tmp_path):
    spec = {'cwd': str(tmp_path), 'env': {},
            'argv': [sys.executable, '-c', 'import time; print("up", flush=True); time.sleep(600)']}
    proc = _bootstrap(spec, close_stdin=False)
    assert proc.stdout.readline() == b'up\n'
    proc.stdin.close()                  # what the ssh connection's end looks like there
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGHUP


@pytest.mark.parametrize('command, noted', [
    (['train', '--kvstore', 'dist_async'], True),
    (['python', '-m', 'vgg_gluon.train', '--kvstore=dist_async'], True),
    (['train', '--kvstore', 'dist_sync'], False),
    (['train', '--kvstore'], False),
])
def test_launch_notes_what_dist_async_does(command, noted):
    _, command = launch.parse_args(['-n', '2', '-s', '1', '--'] + command)
    note = launch.async_note(command)
    assert (note is not None) == noted
    if noted:   # one line naming where MXNet does it
        assert '\n' not in note and 'KVStoreDistServer::DataHandleDefault' in note


def test_launch_help_explains_how_a_job_ends(capsys):
    with pytest.raises(SystemExit) as exit_info:
        launch.main(['--help'])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for words in ('--stall-timeout', '--grace', 'SIGKILL', 'one line', '124'):
        assert words in text, words


def test_only_workers_report_progress_and_ssh_takes_a_config():
    from vgg_gluon.training.distributed import PROGRESS_ENV
    nodes = launcher.plan(2, 1, 9091, ['node-a', 'node-b'])
    assert [PROGRESS_ENV in n.env for n in nodes] == [False, False, True, True]
    cmd, _ = launcher.ssh_command('node-b', nodes[-1].env, ['python'], '/srv',
                                  config='/tmp/ssh.cfg')
    assert cmd[:6] == ['ssh', '-T', '-F', '/tmp/ssh.cfg', '-o', 'BatchMode=yes']


def test_the_documented_launch_example_parses():
    with open(os.path.join(ROOT, 'docs', 'machines.md')) as f:
        section = f.read()
    lines = [line for line in section.splitlines() if line.startswith('python -m vgg_gluon.launch')]
    assert lines, 'docs/machines.md shows no launcher example'
    argv = shlex.split(lines[0])[3:]
    args, command = launch.parse_args(argv)
    assert command[:3] == [sys.executable, '-m', 'vgg_gluon.train']
    config = train.parse_config(command[3:])
    assert config.kvstore.startswith('dist')


@pytest.mark.parametrize('given, run', [
    (['train', '--lr', '0.1'], [sys.executable, '-m', 'vgg_gluon.train', '--lr', '0.1']),
    (['--', 'train', '--lr', '0.1'], [sys.executable, '-m', 'vgg_gluon.train', '--lr', '0.1']),
    (['--', 'python', '-m', 'vgg_gluon.train'], [sys.executable, '-m', 'vgg_gluon.train']),
    (['--', '/usr/bin/python3.11', 'x.py'], [sys.executable, 'x.py']),
    (['python3', 'x.py'], [sys.executable, 'x.py']),
    (['--', 'env', 'python', 'x.py'], ['env', 'python', 'x.py']),      # not ours to rewrite
    (['--', 'pythonista'], ['pythonista']),
])
def test_launch_runs_this_projects_interpreter_whatever_path_says(given, run):
    """A worker started from a shell whose PATH finds another python would die
    with ModuleNotFoundError: the launcher's own interpreter runs it instead."""
    args, command = launch.parse_args(['-n', '2', '-s', '1', '--port', '9000'] + given)
    assert command == run and args.port == 9000


# ---- the watch, with stand-in processes ------------------------------------------

FAKE = """
import os, sys, time
role, mode, token = os.environ['DMLC_ROLE'], sys.argv[1], sys.argv[2]
if role != 'worker':
    time.sleep(1 if (mode, role) == ('server exits', 'server') else 600)
    sys.exit(0)
try:       # the first worker to get here plays the silent one
    os.close(os.open(token, os.O_CREAT | os.O_EXCL))
    silent = mode == 'silent'
except FileExistsError:
    silent = False
print('silent' if silent else 'busy', flush=True)
for batch in range(1, 100000):
    if not silent or batch < 3:
        os.write(1, f"{PREFIX}{batch} training epoch 1 batch {batch}\\n".encode())
    time.sleep(0.2)
"""


@pytest.mark.slow
@pytest.mark.parametrize('mode, status, line', [
    ('silent', 124, r'worker (\d) made no progress for \d+ s \(--stall-timeout 2; it is at: '
                    r'training epoch 1 batch 2; the others got further\)'),
    ('server exits', 1, r'server 0 exited with status 0 while workers were running'),
])
def test_launcher_ends_a_stuck_job(mode, status, line, tmp_path):
    """Stand-in processes (no MXNet): a worker that goes silent while the other
    reports progress, or a server that ends while the workers run."""
    from vgg_gluon.training.distributed import PROGRESS_PREFIX
    script = tmp_path / 'fake.py'
    script.write_text(FAKE.replace('{PREFIX}', PROGRESS_PREFIX))
    cmd = [PY, '-m', 'vgg_gluon.launch', '-n', '2', '-s', '1', '--grace', '2',
           '--stall-timeout', '2', '--', PY, str(script), mode, str(tmp_path / 'token')]
    proc, marker, out, err = start_job(cmd, tmp_path)
    rc, stdout, stderr, left = end_of(proc, marker, out, err, 60)
    assert rc == status, stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(line, lines[0]), stderr
    if mode == 'silent':  # the launcher names the silent worker, and hides progress lines
        silent = re.search(line, lines[0]).group(1)
        assert f'[worker {silent}] silent' in stdout, stdout
    assert PROGRESS_PREFIX not in stdout
    assert left == []
