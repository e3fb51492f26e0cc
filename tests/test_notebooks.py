"""Notebooks cannot rot: every notebook in notebooks/ runs top to bottom.

Each is executed by papermill with small parameters (its cell tagged
``parameters`` is overridden), headless, into a temporary directory, from
notebooks/ as Jupyter would; the committed notebooks are not touched. A new
notebook must be given its small parameters in SMALL, or this test fails.
"""
import json
import pathlib

import papermill  # the test extra pins it
import pytest

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / 'notebooks'

# 04's small parameters, which its student edition (scripts/student_edition.py) runs with too
EXERCISES = dict(time_batch=4, time_steps=1, train_samples=64, test_samples=32, num_epochs=1)

# notebook -> (small parameters, files it must write to out_dir)
SMALL = {
    '01_blocks.ipynb': (dict(resize=64), ['layer_costs.png']),
    '02_training.ipynb': (dict(train_samples=256, test_samples=128, num_epochs=2, resize=32),
                          ['learning_curve.png', 'predictions.png', 'log.txt',
                           'metrics.json', 'model.params', 'command.txt']),
    '03_family.ipynb': (dict(), ['03_receptive_field.png']),  # shape inference only: cheap
    '04_exercises.ipynb': (EXERCISES, ['exercise2_vgg_vs_alexnet.png', 'exercise3_96_vs_224.png']),
    # without the answers: exercise 3's figure is drawn in its answer cell
    '04_exercises_student.ipynb': (EXERCISES, ['exercise2_vgg_vs_alexnet.png']),
    '05_recipes.ipynb': (dict(train_samples=256, test_samples=128, num_epochs=1),
                         ['recipes_curves.png', 'ablation.json']),
    '06_inside_vgg.ipynb': (dict(serve=False),     # the static figures; no page server
                            ['feature_maps.png', 'receptive_fields.png', 'filters.png',
                             'confident_mistakes.png']),
}

# notebook -> learning curves redrawn during training (training.animator.LiveCurve)
LIVE_CURVES = {'02_training.ipynb': 1}


def test_every_notebook_is_covered():
    assert sorted(p.name for p in NOTEBOOKS.glob('*.ipynb')) == sorted(SMALL)


@pytest.mark.parametrize('name', sorted(SMALL))
def test_a_committed_notebook_run_top_to_bottom_uses_its_defaults(name):
    """papermill's injected-parameters cell (e.g. full = True, out_dir = ../results/seed000)
    would run in class and overwrite the committed run: scripts/record_parameters.py
    makes it a note."""
    nb = json.loads((NOTEBOOKS / name).read_text())
    injected = [c for c in nb['cells'] if c['cell_type'] == 'code'
                and 'injected-parameters' in c['metadata'].get('tags', [])]
    assert not injected, f'{name}: run python scripts/record_parameters.py notebooks/{name}'
    parameters = [c for c in nb['cells'] if 'parameters' in c['metadata'].get('tags', [])]
    assert len(parameters) == 1 and parameters[0]['cell_type'] == 'code'
    assert "'../runs/" in ''.join(parameters[0]['source'])     # the default never results/


@pytest.mark.parametrize('name', sorted(SMALL))
def test_vgg_gluon_is_imported_before_mxnet(name):
    """libgomp reads OMP_NUM_THREADS once, when mxnet loads: a notebook that imports
    mxnet first trains on MXNet's default of half the cores (1 of 2: half the speed)."""
    nb = json.loads((NOTEBOOKS / name).read_text())
    lines = [line.strip() for c in nb['cells'] if c['cell_type'] == 'code'
             for line in ''.join(c['source']).splitlines()]
    imports = [i for i, line in enumerate(lines) if line.startswith(('import ', 'from '))]
    first = lambda module: next((i for i in imports if lines[i].split()[1].split('.')[0] == module),  # noqa: E731
                                None)
    if first('mxnet') is not None:
        assert first('vgg_gluon') is not None and first('vgg_gluon') < first('mxnet')


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(SMALL))
def test_notebook_runs(name, tmp_path):
    params, expected = SMALL[name]
    out_dir = tmp_path / 'out'
    executed = tmp_path / name
    papermill.execute_notebook(
        str(NOTEBOOKS / name), str(executed), parameters=dict(params, out_dir=str(out_dir)),
        kernel_name='python3', cwd=str(NOTEBOOKS), progress_bar=False)
    for filename in expected:
        path = out_dir / filename
        assert path.is_file() and path.stat().st_size > 0, filename
        if filename.endswith('.png'):
            assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    nb = json.loads(executed.read_text())
    code = [c for c in nb['cells'] if c['cell_type'] == 'code']
    assert all(c.get('execution_count') for c in code)       # every cell ran
    shown = [o for c in code for o in c.get('outputs', []) if 'image/png' in o.get('data', {})]
    # the figures show, and a training notebook's live curve: one image, replaced in place
    assert len(shown) == sum(f.endswith('.png') for f in expected) + LIVE_CURVES.get(name, 0)
    if name == '02_training.ipynb':
        training = next(c for c in code if 'train_ch5(' in ''.join(c['source']))
        assert sum('image/png' in o.get('data', {}) for o in training['outputs']) == 1
        history = json.loads((out_dir / 'metrics.json').read_text())
        log = (out_dir / 'log.txt').read_text().splitlines()
        assert [r['epoch'] for r in history] == [1, 2]
        # log.txt holds the book's lines, and they say what metrics.json says
        assert log[0].startswith('training on')
        for line, record in zip(log[1:], history):
            assert line.startswith('epoch %d, loss %.4f, train acc %.3f, test acc %.3f'
                                   % (record['epoch'], record['loss'], record['train_acc'],
                                      record['test_acc']))
