"""vgg_gluon._compat: what MXNet 1.9.1 needs from numpy and onnx, on every supported Python.

On numpy 1.23 (Python 3.10, 3.11) numpy still has the aliases MXNet uses and
_compat leaves it alone; on numpy 1.26 (3.12, 3.13) _compat gives them back.
Each ``PATHS`` entry runs an MXNet code path that reads one of the names at
call time; ``test_the_path_reads_its_name`` hides the name and sees the path
break, so the paths are known to depend on it. ONNX export with onnxruntime
parity is tests/inference/test_evaluate_predict_export.py's export test, which
runs on every Python too.
"""
import os
import subprocess
import sys
import warnings

import numpy
import pytest

from vgg_gluon import _compat
import mxnet as mx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUMPY_VERSION = tuple(int(p) for p in numpy.__version__.split('.')[:2])
NEW_NUMPY = NUMPY_VERSION >= (1, 24)  # the aliases were removed in numpy 1.24


def _python(code):
    """Run ``code`` in a fresh interpreter (nothing imported yet); the completed process."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get('PYTHONPATH')])))
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env,
                          timeout=300)


# ------------------------------------------------------------ the numpy names

def test_the_names_are_restored_only_where_numpy_lacks_them():
    assert _compat.RESTORED == (['bool', 'int'] if NEW_NUMPY else [])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # numpy 1.23's own aliases warn
        assert numpy.bool is bool and numpy.int is int  # their values before numpy 1.24


@pytest.mark.slow
def test_nothing_else_in_numpy_changes():
    # loaded alone, by path, as benchmarks/seed000.py and the Horovod build load it
    result = _python(
        "import importlib.util, numpy\n"
        "before = dict(vars(numpy))\n"
        f"spec = importlib.util.spec_from_file_location('c', {os.path.join(ROOT, 'vgg_gluon', '_compat.py')!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "after = vars(numpy)\n"
        "changed = sorted(k for k in set(before) | set(after) if before.get(k, 0) is not after.get(k, 0))\n"
        "print(changed, module.RESTORED)\n")
    assert result.returncode == 0, result.stderr
    names = ['bool', 'int'] if NEW_NUMPY else []
    assert result.stdout.split('\n')[0] == f'{names} {names}'


@pytest.mark.slow
def test_mxnet_imports_only_with_the_names_on_new_numpy():
    """Without _compat, ``import mxnet`` fails on numpy 1.24+ (the reason the module exists)."""
    bare = _python('import mxnet')
    if NEW_NUMPY:
        assert bare.returncode != 0 and "has no attribute 'bool'" in bare.stderr
    else:
        assert bare.returncode == 0, bare.stderr
    fixed = _python('import vgg_gluon, mxnet; print(mxnet.__version__)')
    assert fixed.returncode == 0 and fixed.stdout.strip() == '1.9.1', fixed.stderr


def _mask_getitem():
    """mx.np boolean indexing with a Python bool (multiarray.__getitem__)."""
    x = mx.np.array([1., -1., -2., 3.])
    assert x[True].shape == (1, 4)
    assert x[x < 0].asnumpy().tolist() == [-1., -2.]


def _mask_setitem():
    """mx.np boolean-mask assignment (multiarray.__setitem__)."""
    x = mx.np.array([1., -1., -2., 3.])
    x[x < 0] = 0
    assert x.asnumpy().tolist() == [1., 0., 0., 3.]


def _full_bool_ndarray():
    """np.full with a bool fill value gets dtype bool; asnumpy of a bool array."""
    y = mx.np.full((2, 3), True)
    assert y.dtype == numpy.bool_
    out = y.asnumpy()
    assert out.dtype == numpy.bool_ and out.all() and out.shape == (2, 3)


def _full_bool_symbol():
    """The same in a symbolic graph (symbol/numpy/_symbol.py), evaluated."""
    (out,) = mx.sym.np.full((2, 2), True).as_nd_ndarray().eval(ctx=mx.cpu())
    assert out.dtype == numpy.bool_ and out.asnumpy().all()


def _unsupported_object():
    """Converting an unsupported object says so (TypeError, not AttributeError)."""
    from mxnet.numpy.multiarray import _as_mx_np_array
    with pytest.raises(TypeError, match='Does not support converting'):
        _as_mx_np_array('not an array')


def _tolerances_of_bool_arrays():
    """test_utils' default tolerances have an entry for bool."""
    flags = numpy.array([True, False, True])
    mx.test_utils.assert_almost_equal(mx.np.array(flags, dtype=mx.np.bool).asnumpy(), flags)


class _Chisquare:
    """scipy.stats' chisquare, recording its inputs (scipy is not a dependency)."""

    def chisquare(self, f_obs, f_exp):
        self.f_obs = f_obs
        return 0.0, 1.0


def _bucket_counts():
    """test_utils.chi_square_check counts samples per bucket in an array of dtype int."""
    stats = _Chisquare()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mx.test_utils, 'ss', stats)
        _, obs, _ = mx.test_utils.chi_square_check(lambda n: numpy.array([0, 1, 1, 2])[:n],
                                                    [0, 1, 2], [0.25, 0.5, 0.25], nsamples=4)
    assert obs.tolist() == [1, 2, 1] and obs.dtype.kind == 'i' and obs is stats.f_obs


# the MXNet path -> the numpy name it reads when it runs
PATHS = {
    _mask_getitem: 'bool',
    _mask_setitem: 'bool',
    _full_bool_ndarray: 'bool',
    _full_bool_symbol: 'bool',
    _unsupported_object: 'bool',
    _tolerances_of_bool_arrays: 'bool',
    _bucket_counts: 'int',
}


@pytest.mark.parametrize('path', PATHS, ids=lambda p: p.__name__.strip('_'))
def test_the_path_runs(path):
    path()


@pytest.fixture
def hide(monkeypatch):
    """hide(name): numpy.name raises AttributeError, as on numpy 1.24+ without _compat."""
    def hide(name):
        if name in vars(numpy):  # restored by _compat
            monkeypatch.delattr(numpy, name)
        numpys_own = vars(numpy).get('__getattr__')  # numpy 1.23 serves its aliases here

        def __getattr__(attr):
            if attr == name or numpys_own is None:
                raise AttributeError(f"module 'numpy' has no attribute {attr!r}")
            return numpys_own(attr)
        monkeypatch.setattr(numpy, '__getattr__', __getattr__, raising=False)
    return hide


@pytest.mark.parametrize('path', PATHS, ids=lambda p: p.__name__.strip('_'))
def test_the_path_reads_its_name(path, hide):
    hide(PATHS[path])
    with pytest.raises(AttributeError, match=f"no attribute '{PATHS[path]}'"):
        path()


def test_mx_np_bool_is_the_restored_name():
    """mxnet/numpy/utils.py copies numpy.bool at import: mx.np.bool as a dtype."""
    assert mx.np.bool is bool
    y = mx.np.array([1, 0, 2], dtype=mx.np.bool)
    assert y.asnumpy().tolist() == [True, False, True] and y.asnumpy().dtype == numpy.bool_


def test_distutils_for_mxnet():
    """MXNet imports distutils (gone from Python 3.12; setuptools provides it there)."""
    from mxnet.numpy_dispatch_protocol import with_array_function_protocol
    ran = []
    with_array_function_protocol(lambda: ran.append(True))()  # compares LooseVersions
    assert ran == [True]


# ------------------------------------------------------------ onnx

onnx = pytest.importorskip('onnx', reason="the export extra (pip install 'vgg_gluon[export]')")


def test_onnx_type_tables_are_onnx_mappings():
    """The tables _compat builds from onnx.helper are onnx.mapping's own where onnx still
    has the module (onnx <= 1.18), and give MXNet's dtypes their onnx types everywhere."""
    to_numpy, to_tensor = _compat.onnx_type_tables()
    for dtype, tensor_type in [('float32', 'FLOAT'), ('float16', 'FLOAT16'), ('float64', 'DOUBLE'),
                               ('int64', 'INT64'), ('int32', 'INT32'), ('uint8', 'UINT8'),
                               ('int8', 'INT8'), ('bool', 'BOOL')]:
        assert to_tensor[numpy.dtype(dtype)] == getattr(onnx.TensorProto, tensor_type)
        assert to_numpy[getattr(onnx.TensorProto, tensor_type)] == numpy.dtype(dtype)
    if os.path.exists(os.path.join(os.path.dirname(onnx.__file__), 'mapping.py')):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # deprecated where it exists
            import onnx.mapping as mapping
        assert to_numpy == dict(mapping.TENSOR_TYPE_TO_NP_TYPE)
        assert to_tensor == dict(mapping.NP_TYPE_TO_TENSOR_TYPE)


def test_adapt_onnx_gives_mxnets_exporter_onnx_mapping(monkeypatch):
    has_own = os.path.exists(os.path.join(os.path.dirname(onnx.__file__), 'mapping.py'))
    if not has_own:
        # an earlier export in this process may have made it already: start from none
        monkeypatch.delitem(sys.modules, 'onnx.mapping', raising=False)
        monkeypatch.delattr(onnx, 'mapping', raising=False)
    made = _compat.adapt_onnx()
    assert made == (not has_own)  # only where onnx lacks it
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        from onnx import mapping
        assert mapping.NP_TYPE_TO_TENSOR_TYPE[numpy.dtype('float32')] == onnx.TensorProto.FLOAT
        assert onnx.mapping is mapping
    assert _compat.adapt_onnx() is False  # a second call finds it


def test_mxnet_exports_a_network_to_onnx_that_onnxruntime_runs(tmp_path):
    """mx2onnx's type look-ups on the installed onnx; the export command's parity check
    on a trained network is tests/inference/test_evaluate_predict_export.py's."""
    ort = pytest.importorskip('onnxruntime')
    from mxnet import gluon
    _compat.adapt_onnx()
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(4, 3, activation='relu'), gluon.nn.Dense(3))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    X = numpy.random.RandomState(0).rand(2, 1, 8, 8).astype(numpy.float32)
    expected = net(mx.nd.array(X)).asnumpy()
    prefix = str(tmp_path / 'net')
    net.export(prefix)
    path = mx.onnx.export_model(prefix + '-symbol.json', prefix + '-0000.params',
                                in_shapes=[X.shape], in_types=[numpy.float32],
                                onnx_file_path=str(tmp_path / 'net.onnx'))
    onnx.checker.check_model(onnx.load(path))
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    got = session.run(None, {session.get_inputs()[0].name: X})[0]
    assert numpy.abs(got - expected).max() < 1e-5
