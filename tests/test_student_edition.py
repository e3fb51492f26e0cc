"""The student edition of the exercises notebook: current, and without the answers.

notebooks/04_exercises_student.ipynb is made by scripts/student_edition.py from
notebooks/04_exercises.ipynb (its cells tagged ``answer`` replaced by placeholders);
tests/test_notebooks.py runs it top to bottom with 04's small parameters.
"""
import importlib.util
import json
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / 'scripts' / 'student_edition.py'
SOURCE = ROOT / 'notebooks' / '04_exercises.ipynb'
STUDENT = ROOT / 'notebooks' / '04_exercises_student.ipynb'

spec = importlib.util.spec_from_file_location('student_edition', SCRIPT)
student_edition = importlib.util.module_from_spec(spec)
spec.loader.exec_module(student_edition)


def load(path):
    return json.loads(path.read_text(encoding='utf-8'))


def text(cell):
    return ''.join(cell['source'])


def is_answer(cell):
    return 'answer' in cell['metadata'].get('tags', [])


def test_the_committed_student_edition_is_what_the_script_makes():
    assert STUDENT.read_text(encoding='utf-8') == student_edition.student_edition(), \
        'stale: run python scripts/student_edition.py'


def test_every_displayed_answer_in_04_is_tagged():
    cells = load(SOURCE)['cells']
    answers = [c for c in cells if '**Answer.**' in text(c)]
    assert len(answers) == 4 and all(map(is_answer, answers))   # one per exercise
    # the questions stay: every exercise's heading, tagged cell or not, is in the edition
    headings = lambda cells: [line for c in cells if c['cell_type'] == 'markdown'  # noqa: E731
                              for line in text(c).splitlines() if line.startswith('## Exercise')]
    assert len(headings(cells)) == 4 and headings(load(STUDENT)['cells']) == headings(cells)


def test_no_answer_remains():
    nb = load(STUDENT)
    for cell in nb['cells']:
        assert '**Answer.**' not in text(cell) and 'answer' not in cell['metadata'].get('tags', [])
    assert '**Answer.**' not in STUDENT.read_text(encoding='utf-8')
    # what the tagged markdown gave away is gone too (exercise 1's: whole blocks)
    assert 'a whole `vgg_block`' in SOURCE.read_text(encoding='utf-8')
    assert 'a whole `vgg_block`' not in STUDENT.read_text(encoding='utf-8')


def test_every_other_cell_is_kept_in_order():
    source = [c for c in load(SOURCE)['cells'] if not is_answer(c)]
    student = load(STUDENT)['cells']
    ids = [c['id'] for c in student]
    kept = [c for c in student if c['id'] in {s['id'] for s in source}]
    assert [c['id'] for c in kept] == [c['id'] for c in source]
    for s, k in zip(source, kept):
        assert k['cell_type'] == s['cell_type']
        if 'parameters' in s['metadata'].get('tags', []):
            # the same parameters; only out_dir's default is the student edition's own
            strip = lambda c: [line for line in text(c).splitlines()  # noqa: E731
                               if not line.startswith('out_dir')]
            assert strip(k) == strip(s)
            assert "out_dir = '../runs/04_exercises_student'" in text(k)
            assert k['metadata']['tags'] == ['parameters']
        else:
            assert text(k) == text(s)
    # and the rest is the note, the exercises' headings and one placeholder per answer run
    added = [c for c in student if c not in kept]
    assert added[0]['id'] == 'student-edition' and ids[0] == 'student-edition'
    placeholders = [c for c in added if c['id'].endswith('-you')]
    headings = [c for c in added if c['id'].endswith('-q')]
    assert len(placeholders) == 5 and len(added) == 1 + len(placeholders) + len(headings)
    assert all(text(c).startswith('#') for c in headings)
    assert all('your answer' in text(c) for c in placeholders)


def test_the_student_edition_has_no_outputs_and_runs_in_the_vgg_gluon_kernel():
    nb = load(STUDENT)
    assert nb['metadata']['kernelspec']['name'] == 'vgg-gluon'
    assert 'papermill' not in nb['metadata']
    assert 'version' not in nb['metadata'].get('language_info', {})
    for cell in nb['cells']:
        assert 'papermill' not in cell['metadata'] and 'execution' not in cell['metadata']
        if cell['cell_type'] == 'code':
            assert cell['outputs'] == [] and cell['execution_count'] is None


def test_the_json_is_deterministic_nbformat():
    import nbformat
    written = STUDENT.read_text(encoding='utf-8')
    assert student_edition.student_edition() == student_edition.student_edition() == written
    nbformat.validate(nbformat.reads(written, as_version=4))
    assert written == nbformat.writes(nbformat.reads(written, as_version=4)) + '\n'


def test_check_exits_1_with_one_line_when_stale_and_0_when_current(tmp_path):
    """--check in a copy of the script and the notebooks: a real process, a real file."""
    (tmp_path / 'scripts').mkdir()
    (tmp_path / 'notebooks').mkdir()
    shutil.copy(SCRIPT, tmp_path / 'scripts')
    shutil.copy(SOURCE, tmp_path / 'notebooks')
    shutil.copy(STUDENT, tmp_path / 'notebooks')
    check = lambda: subprocess.run([sys.executable, str(tmp_path / 'scripts' / SCRIPT.name),  # noqa: E731
                                    '--check'], capture_output=True, text=True)
    done = check()
    assert (done.returncode, done.stdout, done.stderr) == (0, '', '')
    # an answer added to 04 (a newly tagged cell) makes the committed edition stale
    source = load(tmp_path / 'notebooks' / SOURCE.name)
    cell = next(c for c in source['cells'] if text(c).startswith('## Exercise 1'))
    cell['metadata']['tags'] = ['answer']
    (tmp_path / 'notebooks' / SOURCE.name).write_text(json.dumps(source, indent=1))
    before = (tmp_path / 'notebooks' / STUDENT.name).read_bytes()
    done = check()
    assert done.returncode == 1 and done.stdout == ''
    assert len(done.stderr.splitlines()) == 1 and 'student_edition.py' in done.stderr
    assert (tmp_path / 'notebooks' / STUDENT.name).read_bytes() == before   # --check writes nothing
    # without --check it is made again, and then it is current
    made = subprocess.run([sys.executable, str(tmp_path / 'scripts' / SCRIPT.name)],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert check().returncode == 0
    (tmp_path / 'notebooks' / STUDENT.name).unlink()
    assert check().returncode == 1   # a missing edition is not current either


def test_the_record_of_a_run_that_made_04s_outputs_is_left_out(tmp_path):
    """After make reproduce, 04 holds a note of its run's parameters (record_parameters.py);
    the edition has no outputs, so neither that note nor papermill's cell goes into it."""
    nb = load(SOURCE)
    nb['cells'][2:2] = [
        {'cell_type': 'markdown', 'id': 'record', 'metadata': {'tags': ['parameters-of-these-outputs']},
         'source': '**These outputs were made with** (papermill `-p`): `out_dir = "../x"`.'},
        {'cell_type': 'code', 'id': 'injected', 'metadata': {'tags': ['injected-parameters']},
         'execution_count': 1, 'outputs': [], 'source': 'out_dir = "../x"'}]
    executed = tmp_path / SOURCE.name
    executed.write_text(json.dumps(nb), encoding='utf-8')
    made = student_edition.student_edition(executed)
    assert 'These outputs were made with' not in made and 'out_dir = \\"../x\\"' not in made
    assert made == student_edition.student_edition()
