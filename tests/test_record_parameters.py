"""scripts/record_parameters.py: papermill's injected parameters become a note, in place."""
import json
import subprocess
import sys
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / 'scripts' / 'record_parameters.py'


def cell(kind, tags, source):
    made = {'cell_type': kind, 'id': f'c{abs(hash(source)) % 10**6}', 'metadata': {'tags': tags},
            'source': source}
    if kind == 'code':
        made.update(execution_count=1, outputs=[])
    return made


def notebook(*cells):
    return {'cells': list(cells), 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}


def run(path):
    return subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True,
                          text=True, check=True).stdout


def test_an_injected_cell_becomes_a_note_and_replaces_the_last_runs(tmp_path):
    path = tmp_path / 'nb.ipynb'
    path.write_text(json.dumps(notebook(
        cell('code', ['parameters'], 'full = False\nout_dir = "../runs/nb"'),
        cell('code', ['injected-parameters'], '# Parameters\nfull = True\nout_dir = "../results/new"\n'),
        cell('markdown', ['parameters-of-these-outputs'], 'the run before: `out_dir = "../results/old"`'),
        cell('code', [], 'print(full)'))))
    assert '1 injected-parameters cell(s)' in run(path)
    cells = json.loads(path.read_text())['cells']
    assert [c['cell_type'] for c in cells] == ['code', 'markdown', 'code']
    note = cells[1]
    assert note['metadata']['tags'] == ['parameters-of-these-outputs']
    assert '`full = True`' in note['source'] and '`out_dir = "../results/new"`' in note['source']
    assert 'old' not in json.dumps(cells)
    assert cells[0]['source'] == 'full = False\nout_dir = "../runs/nb"'   # the defaults stay


def test_a_notebook_without_injected_parameters_is_left_as_it_is(tmp_path):
    path = tmp_path / 'nb.ipynb'
    text = json.dumps(notebook(cell('code', ['parameters'], 'x = 1'),
                               cell('markdown', ['parameters-of-these-outputs'], 'kept')))
    path.write_text(text)
    assert '0 injected-parameters cell(s)' in run(path)
    assert path.read_text() == text
