"""Turn papermill's injected parameters into a note, in executed notebooks, in place.

    python scripts/record_parameters.py notebooks/02_training.ipynb [...]

papermill puts the parameters it was given in a code cell tagged ``injected-parameters``
after the ``parameters`` cell. Left in a committed notebook, that cell runs whenever the
notebook is opened and run top to bottom: a class would get the hour-long full run, written
into results/, instead of the notebook's defaults. Here it becomes a markdown cell that says
which parameters gave the committed outputs; the defaults then stay the defaults.
"""
import json
import sys

TAG = 'injected-parameters'
RECORD_TAG = 'parameters-of-these-outputs'


def record(notebook):
    """The notebook (a dict) with each injected-parameters code cell made a note; the count."""
    changed = 0
    if any(cell['cell_type'] == 'code' and TAG in cell.get('metadata', {}).get('tags', [])
           for cell in notebook['cells']):
        # a new run: the note of the run before it no longer describes these outputs
        notebook['cells'] = [cell for cell in notebook['cells']
                             if RECORD_TAG not in cell.get('metadata', {}).get('tags', [])]
    for i, cell in enumerate(notebook['cells']):
        if cell['cell_type'] == 'code' and TAG in cell.get('metadata', {}).get('tags', []):
            lines = [line for line in ''.join(cell['source']).splitlines()
                     if line.strip() and not line.startswith('#')]
            text = ('**These outputs were made with** (papermill `-p`): '
                    + ', '.join(f'`{line.strip()}`' for line in lines)
                    + '. Run top to bottom, the notebook uses its defaults above.')
            notebook['cells'][i] = {'cell_type': 'markdown', 'id': cell.get('id', f'record{i}'),
                                    'metadata': {'tags': [RECORD_TAG]}, 'source': text}
            changed += 1
    return notebook, changed


def main(paths):
    for path in paths:
        with open(path) as f:
            notebook = json.load(f)
        notebook, changed = record(notebook)
        if changed:
            with open(path, 'w') as f:
                json.dump(notebook, f, indent=1, ensure_ascii=False)
                f.write('\n')
        print(f'{path}: {changed} injected-parameters cell(s) recorded as a note')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
