"""docs/hooks.py loaded by path (it is MkDocs' hook file, not a package module), for the tests."""
import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location('docs_hooks', ROOT / 'docs' / 'hooks.py')
hooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hooks)
