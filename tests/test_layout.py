"""The package's shape, checked from its source: how ARCHITECTURE.md says it is.

Every import inside vgg_gluon is read with ``ast``, function-level ones
included, so that these hold for the code as written, not as one run uses it.
"""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / 'vgg_gluon'
MODULES = {path.stem: ast.parse(path.read_text(), str(path))
           for path in sorted(PACKAGE.glob('*.py')) if path.stem != '__init__'}
# the commands: python -m vgg_gluon.X; nothing in the package imports them
COMMANDS = {'train', 'summary', 'evaluate', 'predict', 'export', 'testtime', 'launch', 'convert'}
MAX_FUNCTION_LINES = 55


def imports(tree):
    """[(module imported, names taken from it)] of every import in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module is None:   # from . import x, y
                found += [(alias.name, []) for alias in node.names]
            else:
                found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.ImportFrom) and (node.module or '').startswith('vgg_gluon.'):
            found.append((node.module.split('.')[1], [alias.name for alias in node.names]))
    return found


def graph():
    return {name: {module for module, _ in imports(tree) if module in MODULES}
            for name, tree in MODULES.items()}


def find_cycle(edges):
    """One import cycle as a list of modules, or None."""
    state = {}

    def visit(node, path):
        state[node] = 'open'
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 'open':
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt, path + [nxt])
                if cycle:
                    return cycle
        state[node] = 'done'
        return None

    for start in sorted(edges):
        if start not in state:
            cycle = visit(start, [start])
            if cycle:
                return cycle
    return None


def test_no_import_cycle_even_inside_functions():
    assert find_cycle(graph()) is None


def test_the_cycle_finder_finds_one():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']


def test_no_module_imports_another_modules_private_name():
    offenders = [(name, module, taken) for name, tree in MODULES.items()
                 for module, names in imports(tree) for taken in names
                 if taken.startswith('_') and taken not in ('_threads', '_compat')]
    assert offenders == []


def test_no_command_is_imported_by_the_library():
    importers = {(name, module) for name, edges in graph().items() for module in edges
                 if module in COMMANDS}
    assert importers == set()


def _private_attributes(tree):
    """Attribute reads ``x._name`` where x is not self/cls (and not a dunder)."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith('_')
                and not node.attr.startswith('__')
                and not (isinstance(node.value, ast.Name) and node.value.id in ('self', 'cls'))):
            yield node.lineno, node.attr


def test_mxnet_private_attributes_only_in_mxnet_internals():
    found = {name: sorted(_private_attributes(tree)) for name, tree in MODULES.items()
             if name != 'mxnet_internals'}
    assert {name: rows for name, rows in found.items() if rows} == {}
    assert dict(_private_attributes(MODULES['mxnet_internals']))  # the check can see them


@pytest.mark.parametrize('name', sorted(MODULES))
def test_functions_are_short(name):
    long = [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(MODULES[name])
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []


def test_every_command_parses_its_flags_and_calls_the_library():
    """A command module defines build_parser and main and nothing that is not
    about the command line (no class but argparse actions, no mxnet import)."""
    for name in COMMANDS:
        tree = MODULES[name]
        defined = {node.name for node in tree.body
                   if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        assert {'build_parser', 'main'} <= defined, name
        classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
        assert all(ast.unparse(base).startswith('argparse.') for node in classes
                   for base in node.bases), name
        top_imports = [alias.name for node in tree.body if isinstance(node, ast.Import)
                       for alias in node.names]
        assert 'mxnet' not in top_imports, name
