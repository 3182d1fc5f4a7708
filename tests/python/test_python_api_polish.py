"""The Python face of the package: errors in the Python arguments' names,
__version__ and py.typed, a clean dir(), the same acceptance of (H, W, 1)
objects, integral floats and tensors by every patch and grouping function,
and user documentation free of internal references."""

import importlib
import inspect
import os
import pkgutil
import re
from pathlib import Path

import numpy as np
import pytest

import ptychopatch
from ptychopatch import PtychoPatchError

REPO = Path(__file__).resolve().parents[2]
NO_GPU = ptychopatch.cuda_device_count() == 0

# C names of the library's messages that no Python signature has.
C_NAMES = ("desc->", "patch_size", "num_samples", "num_neighbors", "group_size",
           "num_points", "num_patches", "ptp_")


def _points(n, seed=7):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 40, n), rng.uniform(0, 40, n)


def _nan_at(values, i):
    values = values.copy()
    values[i] = np.nan
    return values


# ------------------------------------------------------ errors, in Python


_OBJ = np.ones((8, 8), np.complex64)
_OFF = np.zeros((2, 1, 2))
_G, _L = np.zeros((2, 1, 2, 1)), np.zeros((2, 1, 2, 4))
_X, _Y = _points(10)

LIBRARY_ERRORS = {
    "extract N=0": (lambda: ptychopatch.extract_patches(_OBJ, _OFF, 0), "N is 0, must be >= 1"),
    "extract N=-3": (lambda: ptychopatch.extract_patches(_OBJ, _OFF, -3), "N is -3"),
    "extract N too big": (lambda: ptychopatch.extract_patches(_OBJ, _OFF, 2**25),
                          "N is 33554432, must be <= 16777216"),
    "extract no rows": (lambda: ptychopatch.extract_patches(np.ones((0, 4)), _OFF, 3),
                        "obj.shape[0] is 0"),
    "extract no columns": (lambda: ptychopatch.extract_patches(np.ones((4, 0)), _OFF, 3),
                           "obj.shape[1] is 0"),
    "extract overflow": (lambda: ptychopatch.extract_patches(_OBJ, np.zeros((2**20, 1, 2)),
                                                             2**23),
                         "the number of patches * N * N overflows"),
    "get_image_patches N=0": (lambda: ptychopatch.get_image_patches(_OBJ, _G, _L, 0, 2),
                              "N is 0"),
    "get_image_patches no rows": (
        lambda: ptychopatch.get_image_patches(np.ones((0, 4)), _G, _L, 3, 2),
        "gt_image.shape[0] is 0"),
    "reassemble no rows": (
        lambda: ptychopatch.reassemble_patches(np.ones((2, 3, 3, 1)), _OFF, (0, 4)),
        "shape[0] is 0"),
    "reassemble no columns": (
        lambda: ptychopatch.reassemble_patches(np.ones((2, 3, 3, 1)), _OFF, (4, 0)),
        "shape[1] is 0"),
    "reassemble overflow": (
        lambda: ptychopatch.reassemble_patches(np.ones((2, 3, 3, 1)), _OFF, (2**40, 2**40)),
        "shape[0] * shape[1] overflows"),
    "reassemble N=0": (
        lambda: ptychopatch.reassemble_patches(np.ones((2, 0, 0, 1)), _OFF, (4, 4)),
        "patches.shape[1] (N) is 0"),
    "group nsamples<0": (lambda: ptychopatch.group_neighbors(_X, _Y, -1, seed=0),
                         "nsamples is -1, must be >= 0"),
    "group K=0": (lambda: ptychopatch.group_neighbors(_X, _Y, 3, K=0, seed=0),
                  "K is 0, must be >= 1"),
    "group K<C": (lambda: ptychopatch.group_neighbors(_X, _Y, 3, K=3, seed=0),
                  "K is 3, less than gridsize**2 (C) 4"),
    "group gridsize=0": (lambda: ptychopatch.group_neighbors(_X, _Y, 3, gridsize=0, seed=0),
                         "gridsize is 0, must be >= 1"),
    "group gridsize=-2": (lambda: ptychopatch.group_neighbors(_X, _Y, 3, gridsize=-2, seed=0),
                          "gridsize is -2, must be >= 1"),
    "group nsamples>n": (lambda: ptychopatch.group_neighbors(_X, _Y, 11, seed=0),
                         "nsamples (11 groups) exceeds the number of positions (10): "
                         "pass oversample=True"),
    "group too few points": (lambda: ptychopatch.group_neighbors(_X[:3], _Y[:3], 2, seed=0),
                             "len(xcoords) is 3, fewer than the group size C = 4"),
    "group NaN x": (lambda: ptychopatch.group_neighbors(_nan_at(_X, 4), _Y, 3, seed=0),
                    "argument 'xcoords': position 4 is not finite"),
    "group NaN y": (lambda: ptychopatch.group_neighbors(_X, _nan_at(_Y, 5), 3, seed=0),
                    "argument 'ycoords': position 5 is not finite"),
    "grouped_patches N=0": (
        lambda: ptychopatch.grouped_patches(_OBJ, _X, _Y, 0, 3, seed=0, backend="cpu"),
        "N is 0"),
    "grouped_patches no rows": (
        lambda: ptychopatch.grouped_patches(np.ones((0, 4)), _X, _Y, 3, 3, seed=0,
                                            backend="cpu"),
        "obj.shape[0] is 0"),
    "grouped_patches K=0": (
        lambda: ptychopatch.grouped_patches(_OBJ, _X, _Y, 3, 3, K=0, seed=0, backend="cpu"),
        "K is 0"),
    "grouped_patches nsamples>n": (
        lambda: ptychopatch.grouped_patches(_OBJ, _X, _Y, 3, 11, seed=0, backend="cpu"),
        "pass oversample=True"),
    "grouped_patches NaN x": (
        lambda: ptychopatch.grouped_patches(_OBJ, _nan_at(_X, 4), _Y, 3, 3, seed=0,
                                            backend="cpu"),
        "argument 'xcoords'"),
}


@pytest.mark.parametrize("case", sorted(LIBRARY_ERRORS))
def test_library_errors_name_the_python_arguments(case):
    call, expected = LIBRARY_ERRORS[case]
    with pytest.raises(PtychoPatchError) as info:
        call()
    err = info.value
    assert expected in err.message, err.message
    assert str(err) == f"{err.message} [{err.status_name}]"
    for c_name in C_NAMES:
        assert c_name not in err.message, (c_name, err.message)
    # The C wording stays at hand, and the status and function are the library's.
    assert err.library_message.startswith(err.function + ": ")
    assert err.function.startswith("ptp_") and err.status_name.startswith("PTP_ERROR_")


def test_renamed_errors_keep_their_class_and_attributes():
    with pytest.raises(PtychoPatchError) as info:
        ptychopatch.extract_patches(_OBJ, _OFF, 0)
    err = info.value
    assert type(err) is PtychoPatchError and isinstance(err, RuntimeError)
    assert (err.status, err.status_name) == (2, "PTP_ERROR_INVALID_SIZE")
    assert err.function == "ptp_extract_plan_create"
    assert err.library_message == "ptp_extract_plan_create: desc->patch_size is 0, must be >= 1"
    assert err.__suppress_context__


def test_gpu_unavailable_message_names_no_c_function():
    if not NO_GPU:
        pytest.skip("a CUDA device is usable here")
    with pytest.raises(PtychoPatchError) as info:
        ptychopatch.extract_patches(_OBJ, _OFF, 3, backend="gpu")
    assert info.value.status_name == "PTP_ERROR_BACKEND_UNAVAILABLE"
    assert info.value.message.startswith("the GPU backend was requested")


# --------------------------------------------- __version__, py.typed, dir()


def _cmake_version():
    text = (REPO / "CMakeLists.txt").read_text()
    return re.search(r"project\(ptychopatch\s+VERSION\s+([0-9]+\.[0-9]+\.[0-9]+)", text).group(1)


def test_version_is_the_cmake_project_version():
    assert isinstance(ptychopatch.__version__, str)
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", ptychopatch.__version__)
    assert ptychopatch.__version__ == _cmake_version()
    # The library under test comes from the same tree.
    assert ptychopatch.version().startswith(ptychopatch.__version__ + "+")


def test_py_typed_marker_is_shipped():
    package = Path(ptychopatch.__file__).parent
    marker = package / "py.typed"
    assert marker.is_file()
    # The wheel takes every file of the package folder that git does not
    # ignore (scikit-build-core's wheel.packages): py.typed among them.
    if package != REPO / "capi" / "python" / "ptychopatch":
        return  # an installed copy: the marker above is the one the wheel shipped
    pathutil = pytest.importorskip("scikit_build_core.build._pathutil")
    try:
        files = [str(target) for _, target in pathutil.iter_package_files(
            packages={"ptychopatch": str(package)}, include=[], src_exclude=[],
            target_exclude=[], build_dir="build/python/{wheel_tag}", mode="classic")]
    except (AttributeError, TypeError) as exc:
        pytest.skip(f"this scikit-build-core has another internal API: {exc}")
    assert "ptychopatch/py.typed" in files


PUBLIC_SUBMODULES = {"align", "cli", "distributed", "extract", "group", "plot", "reassemble",
                     "registration", "torch"}


def test_dir_lists_the_public_api_only():
    names = {n for n in dir(ptychopatch) if not n.startswith("_")}
    extra = names - set(ptychopatch.__all__) - PUBLIC_SUBMODULES
    assert not extra, sorted(extra)
    assert set(ptychopatch.__all__) <= names
    for name in ("annotations", "ctypes", "NamedTuple"):
        assert not hasattr(ptychopatch, name)


# ---------------------------------------------------------- (H, W, 1) objects


def _object(rng, shape=(12, 13)):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def test_channel_axis_objects_are_taken_everywhere(rng):
    obj = _object(rng)
    obj3 = obj[:, :, None]
    off = rng.uniform(0, 12, (3, 4, 2))
    assert np.array_equal(ptychopatch.extract_patches(obj3, off, 5, backend="cpu"),
                          ptychopatch.extract_patches(obj, off, 5, backend="cpu"))
    assert np.array_equal(ptychopatch.extract_patches(obj3.real, off, 5, backend="cpu"),
                          ptychopatch.extract_patches(obj.real, off, 5, backend="cpu"))
    g, loc = rng.uniform(3, 9, (3, 1, 2, 1)), rng.uniform(-2, 2, (3, 1, 2, 4))
    assert np.array_equal(ptychopatch.get_image_patches(obj3, g, loc, 5, 2, backend="cpu"),
                          ptychopatch.get_image_patches(obj, g, loc, 5, 2, backend="cpu"))
    x, y = _points(20)
    a = ptychopatch.grouped_patches(obj3, x, y, 5, 6, seed=3, backend="cpu")
    b = ptychopatch.grouped_patches(obj, x, y, 5, 6, seed=3, backend="cpu")
    assert np.array_equal(a["Y"], b["Y"])


def test_channel_axis_canvas(rng):
    patches = _object(rng, (3, 5, 5, 4))
    off = rng.uniform(0, 12, (3, 4, 2))
    flat = ptychopatch.reassemble_patches(patches, off, (12, 13), backend="cpu")
    for shape in ((12, 13, 1), np.array([12, 13, 1]), (12.0, 13.0, 1.0)):
        deep = ptychopatch.reassemble_patches(patches, off, shape, backend="cpu")
        assert deep.canvas.shape == deep.weights.shape == (12, 13, 1)
        assert np.array_equal(deep.canvas[:, :, 0], flat.canvas)
        assert np.array_equal(deep.weights[:, :, 0], flat.weights)
    averaged = ptychopatch.reassemble_patches(patches, off, (12, 13, 1), average=True,
                                              return_weights=False, backend="cpu")
    assert averaged.canvas.shape == (12, 13, 1) and averaged.weights is None
    # The adjoint holds for a channel-axis object too.
    obj3 = _object(rng, (12, 13, 1))
    y = _object(rng, (3, 5, 5, 4))
    lhs = np.vdot(y, ptychopatch.extract_patches(obj3, off, 5, backend="cpu"))
    rhs = np.vdot(ptychopatch.reassemble_patches(y, off, obj3.shape, backend="cpu").canvas,
                  obj3)
    assert abs(lhs - rhs) <= 1e-4 * abs(lhs)


@pytest.mark.parametrize("shape", [(8, 8, 2), (8,), (1, 8, 8), (8, 8, 1, 1)])
def test_other_object_shapes_are_refused_alike(shape):
    obj = np.ones(shape, np.complex64)
    x, y = _points(10)
    calls = {
        "obj": lambda: ptychopatch.extract_patches(obj, _OFF, 3),
        "gt_image": lambda: ptychopatch.get_image_patches(obj, _G, _L, 3, 2),
        "obj ": lambda: ptychopatch.grouped_patches(obj, x, y, 3, 3, seed=0),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == (f"{name.strip()} must have shape (H, W) or (H, W, 1), "
                                   f"got {shape}")
    if len(shape) != 2:
        with pytest.raises(ValueError, match=r"shape must be \(H, W\) or \(H, W, 1\)"):
            ptychopatch.reassemble_patches(np.ones((2, 3, 3, 1)), _OFF, shape)


@pytest.mark.skipif(not NO_GPU, reason="checks the GPU-less outcome; a CUDA device is usable")
def test_channel_axis_device_objects_get_past_the_shape_checks():
    from test_device_arrays import FakeCAI

    for obj in (FakeCAI((8, 8, 1), "<c8"), FakeCAI((8, 8, 1), "<f4")):
        with pytest.raises(PtychoPatchError, match="BACKEND_UNAVAILABLE"):
            ptychopatch.extract_patches(obj, FakeCAI((2, 1, 2), "<f8"), 3)
    with pytest.raises(PtychoPatchError, match="BACKEND_UNAVAILABLE"):
        ptychopatch.get_image_patches(FakeCAI((8, 8, 1), "<c8"), FakeCAI((2, 1, 2, 1), "<f8"),
                                      FakeCAI((2, 1, 2, 4), "<f8"), 3, 2)
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, 1\)"):
        ptychopatch.extract_patches(FakeCAI((8, 8, 2), "<c8"), FakeCAI((2, 1, 2), "<f8"), 3)


# ------------------------------------------------------ integral floats


INTEGRAL = [4.0, np.float32(4), np.float64(4), np.int64(4), np.uint8(4), np.array(4),
            np.array(4.0)]


@pytest.mark.parametrize("value", INTEGRAL, ids=repr)
def test_integral_numbers_are_taken_as_integers(rng, value):
    obj = _object(rng)
    off = rng.uniform(0, 12, (3, 4, 2))
    expected = ptychopatch.extract_patches(obj, off, 4, backend="cpu", num_threads=1)
    assert np.array_equal(
        ptychopatch.extract_patches(obj, off, value, backend="cpu", num_threads=value),
        expected)
    g, loc = rng.uniform(3, 9, (3, 1, 2, 1)), rng.uniform(-2, 2, (3, 1, 2, 16))
    assert np.array_equal(
        ptychopatch.get_image_patches(obj, g, loc, value, value, backend="cpu"),
        ptychopatch.get_image_patches(obj, g, loc, 4, 4, backend="cpu"))
    x, y = _points(30)
    d = ptychopatch.group_neighbors(x, y, value, K=value, gridsize=2.0, seed=value)
    e = ptychopatch.group_neighbors(x, y, 4, K=4, gridsize=2, seed=4)
    assert np.array_equal(d["nn_indices"], e["nn_indices"])
    d = ptychopatch.grouped_patches(obj, x, y, value, value, K=value, gridsize=2.0, seed=value,
                                    backend="cpu", num_threads=value)
    e = ptychopatch.grouped_patches(obj, x, y, 4, 4, K=4, gridsize=2, seed=4, backend="cpu")
    assert np.array_equal(d["Y"], e["Y"])
    patches = _object(rng, (3, 5, 5, 4))
    assert np.array_equal(
        ptychopatch.reassemble_patches(patches, off, (value, value), backend="cpu").canvas,
        ptychopatch.reassemble_patches(patches, off, (4, 4), backend="cpu").canvas)


def _integer_argument_calls(value):
    obj, x, y = np.ones((8, 8), np.complex64), *_points(20)
    return {
        "N": [lambda: ptychopatch.extract_patches(obj, _OFF, value),
              lambda: ptychopatch.get_image_patches(obj, _G, _L, value, 2),
              lambda: ptychopatch.grouped_patches(obj, x, y, value, 3, seed=0)],
        "gridsize": [lambda: ptychopatch.get_image_patches(obj, _G, _L, 3, value),
                     lambda: ptychopatch.group_neighbors(x, y, 3, gridsize=value),
                     lambda: ptychopatch.grouped_patches(obj, x, y, 3, 3, gridsize=value)],
        "nsamples": [lambda: ptychopatch.group_neighbors(x, y, value),
                     lambda: ptychopatch.grouped_patches(obj, x, y, 3, value)],
        "K": [lambda: ptychopatch.group_neighbors(x, y, 3, K=value),
              lambda: ptychopatch.grouped_patches(obj, x, y, 3, 3, K=value)],
        "seed": [lambda: ptychopatch.group_neighbors(x, y, 3, seed=value),
                 lambda: ptychopatch.grouped_patches(obj, x, y, 3, 3, seed=value)],
        "num_threads": [lambda: ptychopatch.extract_patches(obj, _OFF, 3, num_threads=value),
                        lambda: ptychopatch.group_neighbors(x, y, 3, num_threads=value)],
        r"shape\[0\]": [lambda: ptychopatch.reassemble_patches(np.ones((2, 3, 3, 1)), _OFF,
                                                                (value, 8))],
    }


@pytest.mark.parametrize("value", [64.5, np.float32(2.5), float("nan"), float("inf")], ids=repr)
def test_non_integral_floats_are_value_errors_naming_the_argument(value):
    for name, calls in _integer_argument_calls(value).items():
        for call in calls:
            with pytest.raises(ValueError, match=rf"^{name} must be an integer, got "):
                call()


@pytest.mark.parametrize("value", [True, "4", None], ids=repr)
def test_non_numbers_are_type_errors_naming_the_argument(value):
    for name, calls in _integer_argument_calls(value).items():
        if name == "seed" and value is None:
            continue  # seed=None: a fresh random seed
        for call in calls:
            with pytest.raises(TypeError, match=rf"^{name} must be an integer"):
                call()


# ------------------------------------------------------------- tensors


class CpuTensor:
    """Looks like a CPU torch.Tensor to the binding (torch is not needed)."""

    def __init__(self, array, requires_grad=False):
        self._array = np.asarray(array)
        self.requires_grad = requires_grad
        self.is_cuda = False

    def __array__(self, dtype=None, copy=None):
        return self._array if dtype is None else self._array.astype(dtype)


CpuTensor.__module__ = "torch"


def test_cpu_tensors_in_numpy_arrays_out(rng):
    obj, off = _object(rng), rng.uniform(0, 12, (3, 4, 2))
    out = ptychopatch.extract_patches(CpuTensor(obj), CpuTensor(off), 5, backend="cpu")
    assert type(out) is np.ndarray
    assert np.array_equal(out, ptychopatch.extract_patches(obj, off, 5, backend="cpu"))
    g, loc = rng.uniform(3, 9, (3, 1, 2, 1)), rng.uniform(-2, 2, (3, 1, 2, 4))
    out = ptychopatch.get_image_patches(CpuTensor(obj), CpuTensor(g), CpuTensor(loc), 5, 2,
                                        backend="cpu")
    assert type(out) is np.ndarray
    canvas, weights = ptychopatch.reassemble_patches(CpuTensor(_object(rng, (3, 5, 5, 4))),
                                                     CpuTensor(off), (12, 13), backend="cpu")
    assert type(canvas) is np.ndarray and type(weights) is np.ndarray
    x, y = _points(20)
    for d in (ptychopatch.group_neighbors(CpuTensor(x), CpuTensor(y), 4, seed=0),
              ptychopatch.grouped_patches(CpuTensor(obj), CpuTensor(x), CpuTensor(y), 5, 4,
                                          seed=0, backend="cpu")):
        assert all(type(v) is np.ndarray for v in d.values())
    assert type(ptychopatch.legacy_offsets(CpuTensor(g), CpuTensor(loc))) is np.ndarray


def test_tensors_requiring_grad_are_refused_alike(rng):
    obj, off = CpuTensor(_object(rng), requires_grad=True), rng.uniform(0, 12, (3, 4, 2))
    g, loc = np.zeros((3, 1, 2, 1)), np.zeros((3, 1, 2, 4))
    x, y = _points(20)
    calls = [
        ("obj", lambda: ptychopatch.extract_patches(obj, off, 5)),
        ("gt_image", lambda: ptychopatch.get_image_patches(obj, g, loc, 5, 2)),
        ("patches", lambda: ptychopatch.reassemble_patches(
            CpuTensor(np.ones((3, 5, 5, 4)), requires_grad=True), off, (12, 13))),
        ("xcoords", lambda: ptychopatch.group_neighbors(CpuTensor(x, True), y, 4)),
        ("obj", lambda: ptychopatch.grouped_patches(obj, x, y, 5, 4)),
        ("local_offsets", lambda: ptychopatch.legacy_offsets(g, CpuTensor(loc, True))),
    ]
    for name, call in calls:
        with pytest.raises(ValueError,
                           match=rf"^{name} is a PyTorch tensor that requires grad.*"
                                 rf"{name}\.detach\(\)"):
            call()


def test_real_torch_cpu_tensors():
    torch = pytest.importorskip("torch")
    obj = torch.ones((8, 8, 1), dtype=torch.complex64)
    off = torch.zeros((2, 1, 2), dtype=torch.float64)
    out = ptychopatch.extract_patches(obj, off, 3, backend="cpu")
    assert type(out) is np.ndarray and out.shape == (2, 3, 3, 1)
    with pytest.raises(ValueError, match=r"detach\(\)"):
        ptychopatch.extract_patches(torch.ones((8, 8), requires_grad=True), off, 3)


# -------------------------------------------- no internal references


INTERNAL = re.compile(r"SPEC\s*§|SPEC section|SPEC\.md|steering repo|\bissues?\s+#?\d+|§\s*\d",
                      re.IGNORECASE)
# Measurement and validation logs, written for the developers.
DEVELOPER_LOGS = {"gpu-validation.md"}


def _user_docs():
    docs = sorted(p for p in (REPO / "docs").glob("*.md") if p.name not in DEVELOPER_LOGS)
    return [REPO / "README.md"] + docs + sorted((REPO / "docs" / "notes").glob("*.md"))


@pytest.mark.parametrize("path", _user_docs(), ids=lambda p: p.name)
def test_user_docs_cite_no_internal_spec_or_issue(path):
    found = [f"{path.name}:{i}: {line.strip()}"
             for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if INTERNAL.search(line)]
    assert not found, "\n".join(found)


def _package_docstrings(module):
    yield module.__name__, inspect.getdoc(module) or ""
    for name, value in vars(module).items():
        if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value) or inspect.isclass(value):
            yield f"{module.__name__}.{name}", inspect.getdoc(value) or ""
        if inspect.isclass(value):
            for attr, member in vars(value).items():
                if not attr.startswith("_") and callable(member):
                    yield f"{module.__name__}.{name}.{attr}", inspect.getdoc(member) or ""


# Edited elsewhere while this test was written; expected to follow.
# The package's Python modules: an installed package also holds the bundled
# libptychopatch.so, which pkgutil lists as if it were an extension module.
MODULES = ["ptychopatch"] + [
    f"ptychopatch.{m.name}" for m in pkgutil.iter_modules(ptychopatch.__path__)
    if not m.name.startswith("__")
    and os.path.exists(os.path.join(ptychopatch.__path__[0], m.name + ".py"))]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstrings_cite_no_internal_spec_or_issue(module_name):
    module = importlib.import_module(module_name)
    found = [f"{where}: {INTERNAL.search(doc).group(0)!r}"
             for where, doc in _package_docstrings(module) if INTERNAL.search(doc)]
    assert not found, "\n".join(found)
