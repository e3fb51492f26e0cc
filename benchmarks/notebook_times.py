"""How long each notebook takes at its defaults, as a class runs it top to bottom.

    python -m benchmarks.notebook_times                      # every notebook in notebooks/
    python -m benchmarks.notebook_times 02_training 04_exercises

Each notebook is executed by papermill with no parameter given, from notebooks/ (as
Jupyter runs it), on the registered kernel its metadata names (``vgg-gluon``: make test's
set-up registers it), into a temporary copy: the committed notebook is not touched. Its
``out_dir`` is left at the default (runs/<notebook>), as a class leaves it. One at a time:
the wall time of each is the kernel's start, every cell and its shutdown. Afterwards the
checkout's ``git status --porcelain`` is printed: a default run must leave it clean.
"""
import json
import pathlib
import subprocess
import sys
import tempfile
import time

from ._args import Parser

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / 'notebooks'


def main(argv=None):
    p = Parser(prog='python -m benchmarks.notebook_times', description=__doc__.split('\n')[0])
    p.add_argument('names', nargs='*', help='notebook stems (default: every notebook)')
    args = p.parse_args(argv)
    known = sorted(path.stem for path in NOTEBOOKS.glob('*.ipynb'))
    for name in args.names:
        if name not in known:
            p.error(f"no notebook {name!r}: one of {', '.join(known)}")
    import papermill
    from vgg_gluon.training.measure import where_and_when
    print(where_and_when('benchmarks.notebook_times', argv))
    print('| notebook | kernel | wall time (s) | minutes |')
    print('|---|---|---:|---:|')
    for name in args.names or known:
        source = NOTEBOOKS / f'{name}.ipynb'
        kernel = json.loads(source.read_text())['metadata']['kernelspec']['name']
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            papermill.execute_notebook(str(source), str(pathlib.Path(tmp) / source.name),
                                       cwd=str(NOTEBOOKS), progress_bar=False,
                                       kernel_name=kernel)
            wall = time.perf_counter() - start
        print(f'| {name} | {kernel} | {wall:.0f} | {wall / 60:.1f} |', flush=True)
    status = subprocess.run(['git', 'status', '--porcelain'], cwd=ROOT, capture_output=True,
                            text=True).stdout
    print('git status --porcelain afterwards:', 'clean' if not status.strip() else '\n' + status)
    return 0


if __name__ == '__main__':
    sys.exit(main())
