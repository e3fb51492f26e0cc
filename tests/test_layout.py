"""The package's shape, checked from its source: how docs/architecture.md says it is.

Every import inside vgg_gluon is read with ``ast``, function-level ones
included, so that these hold for the code as written, not as one run uses it.
A module is named by its dotted path inside the package (``models.vgg``); its
area is the subpackage it lives in, or the module itself at the top level.
"""
import ast
import os
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / 'vgg_gluon'


def _name(path):
    parts = path.relative_to(PACKAGE).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


FILES = {_name(path): path for path in sorted(PACKAGE.rglob('*.py'))}
MODULES = {name: ast.parse(path.read_text(), str(path)) for name, path in FILES.items()}
PACKAGES = {name for name, path in FILES.items() if path.name == '__init__.py'}
# the commands: python -m vgg_gluon.X and vgg-gluon X; nothing in the package imports them
COMMANDS = {'train', 'summary', 'evaluate', 'predict', 'export', 'testtime', 'launch',
            'horovodrun', 'demo'}
# what the top level holds besides the commands and the subpackages
TOP_LEVEL = {'', '__main__', 'config', 'errors', '_threads', '_compat'}
AREAS = {'models', 'data', 'training', 'checkpoint', 'inference', 'runtime', 'cli', 'visual'}
MAX_FUNCTION_LINES = 55


def _package_of(name):
    return name if name in PACKAGES else name.rpartition('.')[0]


def _resolve(importer, node):
    """The dotted in-package module a ``from ... import`` names, or None (outside)."""
    if node.level:
        base = _package_of(importer).split('.') if _package_of(importer) else []
        base = base[:len(base) - (node.level - 1)]
        return '.'.join(base + ([node.module] if node.module else []))
    if (node.module or '').startswith('vgg_gluon.') or node.module == 'vgg_gluon':
        return node.module[len('vgg_gluon.'):] if node.module != 'vgg_gluon' else ''
    return None


def imports(name):
    """[(module imported, names taken from it)] of every in-package import of ``name``;
    ``from pkg import module`` counts as importing that module."""
    found = []
    for node in ast.walk(MODULES[name]):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(name, node)
            if target is None:
                continue
            taken = [alias.name for alias in node.names]
            submodules = [t for t in taken if f'{target}.{t}'.strip('.') in FILES]
            found += [(f'{target}.{t}'.strip('.'), []) for t in submodules]
            rest = [t for t in taken if t not in submodules]
            if rest or not submodules:
                found.append((target, rest))
        elif isinstance(node, ast.Import):
            found += [(alias.name[len('vgg_gluon.'):], []) for alias in node.names
                      if alias.name.startswith('vgg_gluon.')]
    return found


def graph():
    return {name: {module for module, _ in imports(name) if module in FILES and module != name}
            for name in MODULES}


def area(name):
    """'models' for models.vgg, 'train' for train, '' for the package's __init__."""
    return name.split('.')[0]


def area_graph():
    edges = {area(name): set() for name in MODULES}
    for name, targets in graph().items():
        edges[area(name)] |= {area(t) for t in targets if area(t) != area(name)}
    return edges


def find_cycle(edges):
    """One import cycle as a list of nodes, or None."""
    state = {}

    def visit(node, path):
        state[node] = 'open'
        for nxt in sorted(edges.get(node, ())):
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


def test_no_module_import_cycle_even_inside_functions():
    assert find_cycle(graph()) is None


def test_areas_depend_one_way():
    """Between subpackages (and top-level modules) too: models never imports
    training, training never imports a command, and so on."""
    edges = area_graph()
    assert find_cycle({a: e - {''} for a, e in edges.items() if a}) is None
    assert not edges['errors'] and not edges['_threads'] and not edges['_compat']
    assert edges['runtime'] <= {'errors'}
    assert edges['models'] <= {'errors', 'runtime'}


def test_the_cycle_finder_finds_one():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']


def test_the_import_reader_resolves_relative_imports():
    assert ('runtime.mxnet_internals', ['amp_loss_scaler']) in imports('training.loop')
    assert ('runtime.mxnet_internals', []) in imports('checkpoint.writer')  # from .. import x
    assert ('errors', ['TrainingDiverged']) in imports('training.loop')
    assert 'checkpoint.reader' in graph()['checkpoint.writer']


def test_the_top_level_holds_commands_config_errors_and_areas():
    top = {name for name in FILES if '.' not in name}
    assert top - COMMANDS - AREAS == TOP_LEVEL
    assert AREAS <= PACKAGES and not PACKAGES - AREAS - {''}   # no deeper packages


def _stem_pair(a, b, longest_suffix=4):
    """True if a and b differ only by a short suffix: train/training, evaluate/evaluation."""
    common = os.path.commonprefix([a, b])
    return (a != b and len(common) >= 4
            and max(len(a), len(b)) - len(common) <= longest_suffix)


def test_no_two_modules_differ_only_by_a_suffix():
    """Across the whole package, folders apart: a package beside a command
    (training/ and train.py) is a folder and a file, not two modules to choose from."""
    stems = sorted({name.rpartition('.')[2] for name in FILES if name and name not in PACKAGES})
    pairs = [(a, b) for i, a in enumerate(stems) for b in stems[i + 1:] if _stem_pair(a, b)]
    assert pairs == []
    assert _stem_pair('train', 'training') and _stem_pair('evaluate', 'evaluation')
    assert _stem_pair('launch', 'launcher') and not _stem_pair('optimizers', 'optimizer_state')


def test_no_module_imports_another_modules_private_name():
    offenders = [(name, module, taken) for name in MODULES
                 for module, names in imports(name) for taken in names
                 if taken.startswith('_') and not taken.startswith('__')
                 and taken not in ('_threads', '_compat')]
    assert offenders == []


def test_no_command_is_imported_by_the_library():
    importers = {(name, module) for name, edges in graph().items() for module in edges
                 if module in COMMANDS and name not in COMMANDS}
    assert importers == set()


def _private_attributes(tree):
    """Attribute reads ``x._name`` where x is not self/cls (and not a dunder),
    except ``os._exit``, which is public Python despite its name."""
    for node in ast.walk(tree):
        owner = node.value.id if isinstance(getattr(node, 'value', None), ast.Name) else None
        if (isinstance(node, ast.Attribute) and node.attr.startswith('_')
                and not node.attr.startswith('__') and owner not in ('self', 'cls')
                and (owner, node.attr) != ('os', '_exit')):
            yield node.lineno, node.attr


def test_mxnet_private_attributes_only_in_mxnet_internals():
    found = {name: sorted(_private_attributes(tree)) for name, tree in MODULES.items()
             if name != 'runtime.mxnet_internals'}
    assert {name: rows for name, rows in found.items() if rows} == {}
    assert dict(_private_attributes(MODULES['runtime.mxnet_internals']))  # the check sees them


def test_every_exception_class_is_in_errors():
    classes = {name: [node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                      and any(ast.unparse(b).endswith(('Error', 'Exception', 'Diverged',
                                                       'Failed', 'Interrupted'))
                              for b in node.bases)]
               for name, tree in MODULES.items() if name != 'errors'}
    assert {name: found for name, found in classes.items() if found} == {}
    from vgg_gluon import errors
    kinds = [value for value in vars(errors).values()
             if isinstance(value, type) and issubclass(value, BaseException)]
    assert len(kinds) >= 10 and all(issubclass(k, errors.VGGGluonError) for k in kinds)


@pytest.mark.parametrize('name', sorted(MODULES))
def test_functions_are_short(name):
    long = [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(MODULES[name])
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []


@pytest.mark.parametrize('name', sorted(COMMANDS))
def test_every_command_parses_its_flags_and_calls_the_library(name):
    """A command module defines build_parser and main and nothing that is not
    about the command line (no class but argparse actions); at its top it
    imports only what parses flags, never MXNet (so --help stays fast)."""
    tree = MODULES[name]
    defined = {node.name for node in tree.body
               if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    # horovodrun hands its flags to Horovod's own parser
    assert ({'main'} if name == 'horovodrun' else {'build_parser', 'main'}) <= defined, name
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    assert all(ast.unparse(base).startswith('argparse.') for node in classes
               for base in node.bases), name
    top_imports = [alias.name for node in tree.body if isinstance(node, ast.Import)
                   for alias in node.names]
    assert 'mxnet' not in top_imports, name


def test_no_command_imports_threads_for_nothing():
    """The package's __init__ sets the threads before anything else runs (the two
    that read whether the user set them import it for that)."""
    offenders = [name for name in MODULES if name not in ('', 'training.processes', 'horovodrun')
                 and any(module == '_threads' for module, _ in imports(name))]
    assert offenders == []
