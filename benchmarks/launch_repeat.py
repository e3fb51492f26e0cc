"""Start the same parameter-server job several times in a row and count the ones that ran.

    python -m benchmarks.launch_repeat [--launches 20] [--servers 1] [-- EXTRA TRAIN FLAGS]

Each launch is issue 14's command, on a fresh run directory, never started
again on failure:

    python -m vgg_gluon.launch -n 2 -s 1 -- python -m vgg_gluon.train --epochs 1
        --train-samples 512 --test-samples 128 --resize 32 --quiet --kvstore dist_sync

with the train command's defaults otherwise (VGG-11/4, SGD, batch 128,
hybridized). Prints one line per launch (status, seconds, rank 0's book line
or the launcher's last line) and the count.
"""
import os
import subprocess
import sys
import tempfile
import time

from ._args import Parser, at_least

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = ['-m', 'vgg_gluon.train', '--epochs', '1', '--train-samples', '512',
         '--test-samples', '128', '--resize', '32', '--quiet', '--kvstore', 'dist_sync']


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    extra = argv[argv.index('--') + 1:] if '--' in argv else []
    argv = argv[:argv.index('--')] if '--' in argv else argv
    p = Parser(prog='python -m benchmarks.launch_repeat', description=__doc__.split('\n')[0])
    p.add_argument('--launches', type=at_least(1), default=20)
    p.add_argument('--servers', type=at_least(1), default=1)
    args = p.parse_args(argv)
    ok = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(1, args.launches + 1):
            cmd = [sys.executable, '-m', 'vgg_gluon.launch', '-n', '2', '-s', str(args.servers),
                   '--', sys.executable, *TRAIN, *extra, '--out', os.path.join(tmp, str(i))]
            start = time.time()
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
            said = next((line for line in lines if '] epoch 1, loss' in line),
                        lines[-1] if lines else '')
            ok += proc.returncode == 0
            print(f"launch {i}: status {proc.returncode}, {time.time() - start:.0f} s: {said}",
                  flush=True)
    print(f"{ok} of {args.launches} launches ran to the end")
    return 0 if ok == args.launches else 1


if __name__ == '__main__':
    sys.exit(main())
