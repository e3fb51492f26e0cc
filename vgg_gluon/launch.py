"""``python -m vgg_gluon.launch``: start MXNet's parameter-server job.

    python -m vgg_gluon.launch -n 2 -s 1 -- python -m vgg_gluon.train --kvstore dist_sync ...

Starts one scheduler, SERVERS servers and WORKERS workers, each running the
same COMMAND with MXNet's ``DMLC_*`` environment (in MXNet 1.9 ``import mxnet``
in a scheduler or server process runs its loop and exits; workers run the
command). Locally everything listens on 127.0.0.1; with ``--hostfile`` the
processes are started over ssh on the listed hosts (scheduler on the first),
in the same directory. Each output line is prefixed with its role and index.
When any process fails, or the scheduler or a server stops while workers run,
every process is stopped (SIGTERM to its process group, SIGKILL after
``--grace`` seconds) and the launcher exits with the failing status.
"""
import argparse
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

from .cli import Parser, fail  # one-line usage errors, exit status 2
from .errors import Error

PROG = 'python -m vgg_gluon.launch'
LOOPBACK = '127.0.0.1'
DEFAULT_REMOTE_PORT = 9091
# the local environment that remote processes get too
FORWARD_PREFIXES = ('DMLC_', 'MXNET_', 'PS_', 'OMP_', 'VGG_GLUON_')


class LaunchError(Error):
    """Bad launcher input; ``flag`` names the option."""




def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _port(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535, got {text!r}")
    return value


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def build_parser():
    p = Parser(prog=PROG, description=__doc__.split('\n')[0],
               usage=f"{PROG} -n WORKERS -s SERVERS [--hostfile FILE] [--port P] -- COMMAND ...")
    p.add_argument('-n', '--num-workers', type=_positive, required=True, help='worker processes')
    p.add_argument('-s', '--num-servers', type=_positive, required=True, help='server processes')
    p.add_argument('--hostfile', help='one host per line (# comments); start processes there over ssh')
    p.add_argument('--port', type=_port, default=None,
                   help=f"scheduler port (default: a free one locally, {DEFAULT_REMOTE_PORT} with --hostfile)")
    p.add_argument('--grace', type=_seconds, default=10.0,
                   help='seconds between SIGTERM and SIGKILL when stopping (default 10)')
    p.add_argument('--timeout', type=_seconds, default=0.0,
                   help='stop the whole job after this many seconds (default 0: no limit)')
    return p


def parse_args(argv):
    """argv -> (options, command); the command follows ``--``."""
    argv = list(argv)
    if '--' not in argv:
        if {'-h', '--help'} & set(argv):
            build_parser().parse_args(['--help'])  # prints the help and exits 0
        build_parser().error("give the command to run after -- "
                             "(e.g. -- python -m vgg_gluon.train --kvstore dist_sync)")
    cut = argv.index('--')
    args = build_parser().parse_args(argv[:cut])
    command = argv[cut + 1:]
    if not command:
        build_parser().error("the command after -- is empty")
    return args, command


def read_hostfile(path):
    """Hosts, one a line; blank lines and # comments ignored."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as err:
        raise LaunchError(f"cannot read {path} ({err.strerror})", flag='hostfile') from None
    hosts = [line.split('#')[0].strip() for line in lines]
    hosts = [h for h in hosts if h]
    bad = [h for h in hosts if any(c.isspace() for c in h) or h.startswith('-')]
    if bad:
        raise LaunchError(f"{path}: {bad[0]!r} is not a host name", flag='hostfile')
    if not hosts:
        raise LaunchError(f"{path} lists no hosts", flag='hostfile')
    return hosts


def free_ports(count):
    """``count`` distinct free TCP ports on 127.0.0.1, ascending."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOOPBACK, 0))
            socks.append(s)
        return sorted(s.getsockname()[1] for s in socks)
    finally:
        for s in socks:
            s.close()


class Node:
    """One process to start: role, index, host (None: here), environment additions."""

    def __init__(self, role, index, host, env):
        self.role, self.index, self.host, self.env = role, index, host, env

    @property
    def label(self):
        name = self.role if self.role == 'scheduler' else f"{self.role} {self.index}"
        return f"{name}@{self.host}" if self.host else name


def plan(num_workers, num_servers, port, hosts=None):
    """The nodes of a job: scheduler, servers, workers with their DMLC_* variables.

    ps-lite numbers servers and workers by (host, port) once all have joined, so
    locally each gets a fixed ascending port (PORT): worker i is kvstore rank i.
    With hosts, the scheduler runs on the first and the others go round-robin.
    """
    local = hosts is None
    root = LOOPBACK if local else hosts[0]
    common = {'DMLC_PS_ROOT_URI': root, 'DMLC_PS_ROOT_PORT': str(port),
              'DMLC_NUM_SERVER': str(num_servers), 'DMLC_NUM_WORKER': str(num_workers),
              'PYTHONUNBUFFERED': '1'}
    if local:
        ports = free_ports(num_servers + num_workers + 1)
        ports = [p for p in ports if p != port][:num_servers + num_workers]
    else:
        ports = [port + 1 + i for i in range(num_servers + num_workers)]
    nodes = [Node('scheduler', 0, None if local else hosts[0],
                  dict(common, DMLC_ROLE='scheduler', DMLC_NODE_HOST=root))]
    for role, count, offset in (('server', num_servers, 0), ('worker', num_workers, num_servers)):
        for i in range(count):
            host = None if local else hosts[i % len(hosts)]
            nodes.append(Node(role, i, host, dict(
                common, DMLC_ROLE=role, DMLC_NODE_HOST=LOOPBACK if local else host,
                PORT=str(ports[offset + i]))))
    if local:  # share the cores between local workers unless the user chose
        from . import _threads  # importing vgg_gluon has set it: was it the user?
        threads = (os.environ['OMP_NUM_THREADS'] if _threads.USER_SET
                   else str(max(1, _cores() // num_workers)))
        for node in nodes:
            node.env['OMP_NUM_THREADS'] = threads
    return nodes


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def ssh_command(host, env, command, cwd):
    """The ssh command line that runs ``command`` on ``host`` in ``cwd`` with ``env``.

    ``-tt``: the remote process gets a terminal, so it is hung up (SIGHUP) when
    the connection closes, i.e. when the launcher stops the local ssh.
    """
    forwarded = {k: v for k, v in os.environ.items() if k.startswith(FORWARD_PREFIXES)}
    forwarded.update(env)
    assignments = ' '.join(f"{k}={shlex.quote(v)}" for k, v in sorted(forwarded.items()))
    remote = f"cd {shlex.quote(cwd)} && exec env {assignments} {shlex.join(command)}"
    return ['ssh', '-tt', '-o', 'BatchMode=yes', host, remote]


class Job:
    """Running processes, their prefixed output, and the teardown."""

    def __init__(self, grace):
        self.grace = grace
        self.procs = []          # (node, Popen)
        self.pumps = []
        self.lock = threading.Lock()

    def start(self, node, argv, env=None):
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((node, proc))
        pump = threading.Thread(target=self._pump, args=(node.label, proc.stdout), daemon=True)
        pump.start()
        self.pumps.append(pump)

    def _pump(self, label, stream):
        for raw in iter(stream.readline, b''):
            line = raw.decode(errors='replace').rstrip('\r\n')
            with self.lock:
                sys.stdout.write(f"[{label}] {line}\n")
                sys.stdout.flush()
        stream.close()

    def say(self, message):
        with self.lock:
            print(f"{PROG}: {message}", file=sys.stderr, flush=True)

    def alive(self):
        return [(n, p) for n, p in self.procs if p.poll() is None]

    def stop(self):
        """SIGTERM every live process group, SIGKILL what is left after the grace period."""
        for sig, wait in ((signal.SIGTERM, self.grace), (signal.SIGKILL, 5.0)):
            live = self.alive()
            if not live:
                break
            for _, proc in live:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
        for pump in self.pumps:
            pump.join(timeout=2)

    def watch(self, timeout=0.0, poll=0.1):
        """Wait for the job; returns the exit status (0: every worker succeeded)."""
        start, server_gone = time.monotonic(), None
        while True:
            workers = [(n, p) for n, p in self.procs if n.role == 'worker']
            for node, proc in self.procs:
                rc = proc.poll()
                if rc is not None and rc != 0:
                    self.say(f"{node.label} exited with {_describe(rc)}; stopping the job")
                    self.stop()
                    return _status(rc)
            if all(p.poll() == 0 for _, p in workers):
                # the servers and scheduler finish once the workers have
                deadline = time.monotonic() + self.grace
                while self.alive() and time.monotonic() < deadline:
                    time.sleep(poll)
                if self.alive():
                    self.say("servers still running after every worker finished; stopping them")
                    self.stop()
                return 0
            # the scheduler and servers stop as the workers finish (a race); if
            # the workers do not follow within the grace period, they are stuck
            ended = [n for n, p in self.procs if n.role != 'worker' and p.poll() == 0]
            if ended and server_gone is None:
                server_gone = time.monotonic()
            if ended and time.monotonic() - server_gone > self.grace:
                self.say(f"{ended[0].label} stopped while workers were running; stopping the job")
                self.stop()
                return 1
            if timeout and time.monotonic() - start > timeout:
                self.say(f"still running after --timeout {timeout:g} s; stopping the job")
                self.stop()
                return 124
            time.sleep(poll)


def _describe(rc):
    if rc < 0:
        try:
            return f"signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    return f"status {rc}"


def _status(rc):
    """A child's return code as a shell exit status (signals as 128 + n)."""
    return 128 - rc if rc < 0 else rc


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args, command = parse_args(argv)
    try:
        hosts = read_hostfile(args.hostfile) if args.hostfile else None
    except LaunchError as err:
        return fail(PROG, err)
    port = args.port or (DEFAULT_REMOTE_PORT if hosts else free_ports(1)[0])
    nodes = plan(args.num_workers, args.num_servers, port, hosts)
    job = Job(args.grace)

    def on_signal(signum, frame):
        raise KeyboardInterrupt(signum)

    signal.signal(signal.SIGTERM, on_signal)
    try:
        for node in nodes:
            if node.host is None:
                job.start(node, command, env=dict(os.environ, **node.env))
            else:
                job.start(node, ssh_command(node.host, node.env, command, os.getcwd()))
        return job.watch(args.timeout)
    except FileNotFoundError as err:
        job.stop()
        print(f"{PROG}: error: COMMAND: {err.strerror}: {err.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        job.say("interrupted; stopping the job")
        job.stop()
        return 128 + (err.args[0] if err.args else signal.SIGINT)


if __name__ == '__main__':
    sys.exit(main())
