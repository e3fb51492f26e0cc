"""Several hosts for real: the launcher's ssh path, across two network namespaces.

The test makes two test hosts: network namespaces joined by a veth pair with
addresses of their own (10.231.0.1 and 10.231.0.2), each running Debian's sshd
(openssh-server) with its own configuration, host key and port, accepting a
key the test generates. The launcher runs on the first host and starts the
job over ssh from a hostfile naming both: scheduler, server and worker 0 on
10.231.0.1, worker 1 on 10.231.0.2. The test only talks to the namespaces it
made, and removes everything it started (sshd, the job's processes, the
namespaces) even when it fails. Skipped, with the reason, where it cannot run:
not root, no ``ip netns``, no sshd (``scripts/setup.sh test`` installs it).

Both hosts share this machine's file system (same Python, same directory,
same data): what a real cluster shares by installing the same paths.
"""
import os
import re
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from launch_helpers import (PY, TINY_SGD, assert_same_training, end_of, job_pids,
                            one_process_run, start_job, wait_for)
from run_helpers import metrics

SSHD = '/usr/sbin/sshd'
ADDRESSES = ('10.231.0.1', '10.231.0.2')
SSH_PORT = 2222


def _missing():
    """Why this machine cannot make the test hosts, or None."""
    if os.geteuid() != 0:
        return 'needs root (network namespaces, sshd)'
    for tool in ('ip', 'ssh', 'ssh-keygen'):
        if shutil.which(tool) is None:
            return f'needs {tool}'
    if not os.access(SSHD, os.X_OK):
        return 'needs sshd (Debian openssh-server; scripts/setup.sh test installs it)'
    probe = f'vgg14probe{uuid.uuid4().hex[:6]}'
    made = subprocess.run(['ip', 'netns', 'add', probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f'cannot make a network namespace: {made.stderr.strip()}'
    subprocess.run(['ip', 'netns', 'delete', probe], capture_output=True)
    return None


pytestmark = [pytest.mark.slow,   # sshd, network namespaces and a job over ssh
              pytest.mark.skipif(_missing() is not None, reason=str(_missing()))]


def _sh(*argv):
    subprocess.run(argv, check=True, capture_output=True, text=True)


class HostPair:
    """Two namespaces with sshd; ``ssh_config`` reaches both from the first."""

    def __init__(self, tmp):
        self.tmp, self.tag = tmp, uuid.uuid4().hex[:6]
        self.namespaces = [f'vgg14-{self.tag}-a', f'vgg14-{self.tag}-b']
        self.sshd = []
        self.made_run_sshd = False
        self.ssh_config = str(tmp / 'ssh_config')
        self.hostfile = str(tmp / 'hosts')

    def up(self):
        a, b = self.namespaces
        for ns in self.namespaces:
            _sh('ip', 'netns', 'add', ns)
        # the pair is made inside the namespaces: nothing lands in this one
        _sh('ip', 'link', 'add', f'v{self.tag}a', 'netns', a, 'type', 'veth',
            'peer', 'name', f'v{self.tag}b', 'netns', b)
        for ns, address, end in zip(self.namespaces, ADDRESSES, 'ab'):
            _sh('ip', '-n', ns, 'addr', 'add', f'{address}/24', 'dev', f'v{self.tag}{end}')
            _sh('ip', '-n', ns, 'link', 'set', f'v{self.tag}{end}', 'up')
            _sh('ip', '-n', ns, 'link', 'set', 'lo', 'up')
        key = self.tmp / 'id_ed25519'
        _sh('ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'vgg_gluon test', '-f', str(key))
        (self.tmp / 'authorized_keys').write_text((self.tmp / 'id_ed25519.pub').read_text())
        if not os.path.isdir('/run/sshd'):   # sshd's privilege separation directory
            os.makedirs('/run/sshd', mode=0o755)
            self.made_run_sshd = True
        known = []
        for ns, address, end in zip(self.namespaces, ADDRESSES, 'ab'):
            host_key = self.tmp / f'host_{end}'
            _sh('ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(host_key))
            known.append(f"[{address}]:{SSH_PORT} {(self.tmp / f'host_{end}.pub').read_text()}")
            config = self.tmp / f'sshd_{end}.conf'
            config.write_text('\n'.join([
                f'ListenAddress {address}', f'Port {SSH_PORT}', f'HostKey {host_key}',
                f'PidFile {self.tmp}/sshd_{end}.pid',
                f'AuthorizedKeysFile {self.tmp}/authorized_keys', 'StrictModes no',
                'PermitRootLogin prohibit-password', 'PubkeyAuthentication yes',
                'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no',
                'AllowUsers root', 'LogLevel INFO', '']))
            self.sshd.append(subprocess.Popen(
                ['ip', 'netns', 'exec', ns, SSHD, '-D', '-f', str(config),
                 '-E', str(self.tmp / f'sshd_{end}.log')],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        (self.tmp / 'known_hosts').write_text(''.join(known))
        with open(self.ssh_config, 'w') as f:
            f.write('\n'.join([
                f"Host {' '.join(ADDRESSES)}", '  User root', f'  Port {SSH_PORT}',
                f'  IdentityFile {key}', '  IdentitiesOnly yes',
                f"  UserKnownHostsFile {self.tmp / 'known_hosts'}",
                '  GlobalKnownHostsFile /dev/null', '  StrictHostKeyChecking yes',
                '  BatchMode yes', '  ConnectTimeout 5', '  LogLevel ERROR', '']))
        with open(self.hostfile, 'w') as f:
            f.write(f"{ADDRESSES[0]}  # the launcher's host: scheduler, server 0, worker 0\n"
                    f"{ADDRESSES[1]}\n")
        for address in ADDRESSES:
            self._wait_for_sshd(address)

    def in_first(self, argv):
        """``argv`` run on the first host (in its namespace)."""
        return ['ip', 'netns', 'exec', self.namespaces[0], *argv]

    def _wait_for_sshd(self, address, seconds=20):
        deadline = time.monotonic() + seconds
        while True:
            probe = subprocess.run(self.in_first(['ssh', '-F', self.ssh_config, address, 'true']),
                                   capture_output=True, text=True, timeout=30)
            if probe.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd on {address} does not answer: {probe.stderr.strip()}")
            time.sleep(0.3)

    def logins(self, end):
        return (self.tmp / f'sshd_{end}.log').read_text().count('Accepted publickey for root')

    def down(self):
        """Stop what was started, in any state ``up`` reached."""
        for proc in self.sshd:
            proc.terminate()
        for proc in self.sshd:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for ns in self.namespaces:
            pids = subprocess.run(['ip', 'netns', 'pids', ns], capture_output=True, text=True)
            for pid in pids.stdout.split():   # only processes inside our namespaces
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(['ip', 'netns', 'delete', ns], capture_output=True)
        if self.made_run_sshd:
            shutil.rmtree('/run/sshd', ignore_errors=True)


def _command_lines_with(value):
    """The command lines (/proc/PID/cmdline; both test hosts share this /proc)
    that contain ``value``."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                line = f.read()
        except OSError:
            continue
        if value in line:
            found.append(line.replace(b'\0', b' ').decode(errors='replace'))
    return found


@pytest.fixture(scope='module')
def hosts(tmp_path_factory, request):
    test_hosts = HostPair(tmp_path_factory.mktemp('hosts'))
    request.addfinalizer(test_hosts.down)   # also when up() fails half way
    test_hosts.up()
    return test_hosts


@pytest.fixture(scope='module')
def single_tiny(tmp_path_factory):
    return one_process_run(tmp_path_factory, 'single-tiny', TINY_SGD)


def _launch(hosts, *train_args, grace='10', stall='60'):
    return hosts.in_first([PY, '-m', 'vgg_gluon.launch', '-n', '2', '-s', '1',
                           '--hostfile', hosts.hostfile, '--ssh-config', hosts.ssh_config,
                           '--grace', grace, '--stall-timeout', stall, '--',
                           PY, *TINY_SGD, '--kvstore', 'dist_sync', *train_args])


def test_a_job_over_ssh_on_two_hosts_matches_one_process(hosts, single_tiny, tmp_path):
    before = [hosts.logins(end) for end in 'ab']
    out = str(tmp_path / 'run')
    proc, marker, out_file, err_file = start_job(_launch(hosts, '--out', out), tmp_path)
    rc, stdout, stderr, left = end_of(proc, marker, out_file, err_file, 300)
    assert rc == 0, stdout + stderr
    # each process was started through ssh on its host: 3 on the first, 1 on the second
    assert [hosts.logins(end) - n for end, n in zip('ab', before)] == [3, 1]
    assert re.search(r'^\[worker \d@10\.231\.0\.1\] epoch 1, loss', stdout, re.M) or \
        re.search(r'^\[worker \d@10\.231\.0\.2\] epoch 1, loss', stdout, re.M), stdout
    assert len(metrics(out)) == 1
    assert_same_training(single_tiny, out)
    assert left == [], f"{len(left)} processes of the job left running"


@pytest.mark.parametrize('signum, line', [
    (signal.SIGKILL, r'worker 1@10\.231\.0\.2 exited with status 255 \(from ssh: the '
                     r'remote process was killed by a signal'),
    (signal.SIGSTOP, r'worker 1@10\.231\.0\.2 shows no sign of life for \d+ s'),
])
def test_a_fault_on_the_second_host_ends_the_job(hosts, signum, line, tmp_path):
    """The remote worker killed, or hung: the launcher on the first host ends
    the whole job, on both hosts, and says which process it was."""
    proc, marker, out_file, err_file = start_job(
        _launch(hosts, '--epochs', '1000', '--out', str(tmp_path / 'run'), grace='3',
                stall='20'), tmp_path)
    started = wait_for(tmp_path / 'out.txt', 'training on', proc)
    time.sleep(1)
    remote = [pid for pid, env in job_pids(marker) if b'DMLC_ROLE=worker' in env
              and b'DMLC_NODE_HOST=10.231.0.2' in env]
    # the forwarded variables (the marker is one) reached the remote worker's
    # environment, and no command line on either host carries them
    on_command_lines = _command_lines_with(marker.encode())
    if started and remote:
        os.kill(remote[0], signum)
    rc, stdout, stderr, left = end_of(proc, marker, out_file, err_file, 120)
    assert started and len(remote) == 1, stdout + stderr
    assert on_command_lines == [], on_command_lines
    assert rc not in (0, None), stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(line, lines[0]), stderr
    assert left == [], f"{len(left)} processes of the job left running"
