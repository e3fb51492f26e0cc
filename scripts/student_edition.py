"""Make the student edition of the exercises notebook: the questions without the answers.

    .venv/bin/python scripts/student_edition.py           # writes notebooks/04_exercises_student.ipynb
    .venv/bin/python scripts/student_edition.py --check   # exit 1 if the committed one is stale

The answers are the cells of notebooks/04_exercises.ipynb tagged ``answer`` (the cells that
display "**Answer.** ...", the markdown that gives an answer away, and the measurements only
an answer uses). Each run of consecutive answer cells becomes one placeholder cell for the
student's answer (a code cell where the run holds code, a markdown cell otherwise); the
headings of its markdown (the exercise's title, a question) are kept before it. Every other
cell is kept in order. Outputs, execution counts and papermill's metadata are cleared, the
kernel is vgg-gluon (scripts/setup.sh registers it) and out_dir defaults to the student
edition's own ../runs/04_exercises_student. The JSON is nbformat's, with no date or random
id in it: the same 04 always makes the same file, which tests/test_student_edition.py checks.
Edit 04 (and its tags), never the student edition, then run this script.
"""
import argparse
import copy
import pathlib
import re
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / 'notebooks' / '04_exercises.ipynb'
STUDENT = ROOT / 'notebooks' / '04_exercises_student.ipynb'
TAG = 'answer'
KERNELSPEC = {'display_name': 'Python (vgg-gluon)', 'language': 'python', 'name': 'vgg-gluon'}
# language_info without the version of the Python that last ran 04: a re-execution
# elsewhere must not make the student edition stale
LANGUAGE_INFO = {'file_extension': '.py', 'mimetype': 'text/x-python', 'name': 'python'}
# cell metadata papermill and Jupyter write while running; none of it belongs to the source
RUN_METADATA = ('papermill', 'execution', 'collapsed', 'scrolled', 'jupyter')

NOTE = ("*Student edition of `04_exercises.ipynb`: the questions and the measurements, "
        "without the answers. It is generated (`python scripts/student_edition.py`); "
        "write your answers in the cells marked **Your answer**.*")
EXERCISE = re.compile(r'^#+\s*(Exercise\s+\d+)', re.M)


# papermill's parameters cell of an executed run, and the note scripts/record_parameters.py
# makes of it
RUN_RECORDS = {'injected-parameters', 'parameters-of-these-outputs'}


def is_answer(cell):
    return TAG in cell.get('metadata', {}).get('tags', [])


def _clean(cell):
    """The cell as its author wrote it: no outputs, counts or run metadata."""
    cell = copy.deepcopy(cell)
    for key in RUN_METADATA:
        cell.metadata.pop(key, None)
    if not cell.metadata.get('tags', True):
        del cell.metadata['tags']   # papermill's empty list
    if cell.cell_type == 'code':
        cell.outputs = []
        cell.execution_count = None
    if 'attachments' in cell and not cell.attachments:
        del cell['attachments']
    return cell


def _out_dir_default(cell, stem):
    """The parameters cell's out_dir, made the student edition's own ../runs/<stem>."""
    cell.source = re.sub(r"^(out_dir\s*=\s*)(['\"]).*?\2", lambda m: f"{m.group(1)}'../runs/{stem}'",
                         cell.source, count=1, flags=re.M)
    return cell


def _headings(cell):
    """A markdown cell's heading lines (in an answer cell: the question, which stays)."""
    if cell.cell_type != 'markdown':
        return []
    return [line for line in cell.source.splitlines() if line.lstrip().startswith('#')]


def _placeholder(run, exercise):
    """One cell for the student's answer in place of the answer cells in run."""
    first = run[0].get('id') or 'cell'
    what = f'{exercise}: your answer' if exercise else 'Your answer'
    if any(c.cell_type == 'code' for c in run):
        return nbformat.v4.new_code_cell(
            id=f'{first}-you'[:64],
            source=f"# {what}. The cells above leave their measurements in this notebook's\n"
                   f"# variables: compute what you need, then say what it shows, e.g. with\n"
                   f"# display(Markdown(f'**Your answer.** ...'))\n")
    return nbformat.v4.new_markdown_cell(
        id=f'{first}-you'[:64], source=f'**{what}.** *(your explanation here)*')


def student_edition(source=SOURCE, stem=STUDENT.stem):
    """The student edition of the notebook at source, as the text this script writes."""
    nb = nbformat.read(str(source), as_version=4)
    cells = [nbformat.v4.new_markdown_cell(id='student-edition', source=NOTE)]
    exercise = None
    i = 0
    while i < len(nb.cells):
        cell = nb.cells[i]
        if set(cell.metadata.get('tags', [])) & RUN_RECORDS:
            i += 1                      # which run made 04's outputs: the edition has none
            continue
        if not is_answer(cell):
            cell = _clean(cell)
            if 'parameters' in cell.metadata.get('tags', []):
                cell = _out_dir_default(cell, stem)
            found = EXERCISE.findall(cell.source) if cell.cell_type == 'markdown' else []
            exercise = found[-1] if found else exercise
            cells.append(cell)
            i += 1
            continue
        # a heading starts a new exercise, so a run of answers stops before one
        run = [cell]
        i += 1
        while i < len(nb.cells) and is_answer(nb.cells[i]) and not _headings(nb.cells[i]):
            run.append(nb.cells[i])
            i += 1
        # the questions stay: headings of the answer markdown (e.g. "## Exercise 4: ...")
        headings = _headings(run[0])
        if headings:
            cells.append(nbformat.v4.new_markdown_cell(id=f"{run[0]['id']}-q"[:64],
                                                       source='\n'.join(headings)))
            found = EXERCISE.findall('\n'.join(headings))
            exercise = found[-1] if found else exercise
        cells.append(_placeholder(run, exercise))
    student = nbformat.v4.new_notebook(cells=cells, metadata={
        'kernelspec': dict(KERNELSPEC), 'language_info': dict(LANGUAGE_INFO)})
    student.nbformat, student.nbformat_minor = nb.nbformat, max(nb.nbformat_minor, 5)
    nbformat.validate(student)
    return nbformat.writes(student) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true',
                        help='write nothing; exit 1 if the committed student edition is not '
                             'what this script makes now')
    args = parser.parse_args(argv)
    text = student_edition()
    rel = STUDENT.relative_to(ROOT)
    if args.check:
        if not STUDENT.is_file() or STUDENT.read_text(encoding='utf-8') != text:
            print(f'student_edition: {rel} is not what {SOURCE.relative_to(ROOT)} makes now; '
                  f'run: python scripts/student_edition.py', file=sys.stderr)
            return 1
        return 0
    STUDENT.write_text(text, encoding='utf-8')
    print(f'wrote {rel}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
