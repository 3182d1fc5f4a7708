"""Device-array plumbing, without a GPU.

Fake objects exposing ``__cuda_array_interface__`` or CUDA DLPack stand in
for CuPy / PyTorch / Numba arrays. Their pointers are bogus: the tests
check that they are parsed and validated, that every misuse is a clear
Python error, and that on a machine without a usable GPU the call stops at
the library's PTP_ERROR_BACKEND_UNAVAILABLE (context creation) before any
pointer is handed over. Separately, the C library itself is shown to reject
device pointers on a CPU context with PTP_ERROR_UNSUPPORTED without touching
them (in a subprocess, so a crash would be a failure, not a dead run).
"""

import ctypes
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ptychopatch
from ptychopatch import _arrays, _native

NO_GPU = ptychopatch.cuda_device_count() == 0
needs_no_gpu = pytest.mark.skipif(
    not NO_GPU, reason="checks the GPU-less outcome; a CUDA device is usable here")

BOGUS = 0x7F0000001000  # a non-null address nothing may dereference


class FakeCAI:
    """A device array as far as the CUDA Array Interface is concerned."""

    def __init__(self, shape, typestr, ptr=BOGUS, strides=None, version=3, **extra):
        self.__cuda_array_interface__ = {
            "shape": tuple(shape), "typestr": typestr, "data": (ptr, False),
            "strides": strides, "version": version, **extra,
        }


class FakeCAIOnDevice(FakeCAI):
    """A CAI array that also tells its device through DLPack, as CuPy and PyTorch do."""

    def __init__(self, device, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._device = device

    def __dlpack_device__(self):
        return (2, self._device)


# A fake CUDA DLPack capsule, built with the C API: a DLManagedTensor whose
# data pointer is bogus and whose device is CUDA.
_PyCapsule_New = ctypes.pythonapi.PyCapsule_New
_PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_PyCapsule_New.restype = ctypes.py_object
_DLTENSOR_NAME = ctypes.c_char_p(b"dltensor")  # must outlive the capsules


class FakeDLPack:
    """A device array reachable only through DLPack (no CUDA Array Interface)."""

    def __init__(self, shape, code_bits, device=0, ptr=BOGUS, strides=None, device_type=2):
        self._shape = (ctypes.c_int64 * len(shape))(*shape)
        self._strides = None if strides is None else (ctypes.c_int64 * len(shape))(*strides)
        self._managed = _arrays._DLManagedTensor()
        t = self._managed.dl_tensor
        t.data = ptr
        t.device.device_type, t.device.device_id = device_type, device
        t.ndim = len(shape)
        t.dtype.code, t.dtype.bits, t.dtype.lanes = code_bits[0], code_bits[1], 1
        t.shape = ctypes.cast(self._shape, ctypes.POINTER(ctypes.c_int64))
        if self._strides is not None:
            t.strides = ctypes.cast(self._strides, ctypes.POINTER(ctypes.c_int64))
        self._device = (device_type, device)
        self.dlpack_calls = 0

    def __dlpack_device__(self):
        return self._device

    def __dlpack__(self, stream=None):
        self.dlpack_calls += 1
        return _PyCapsule_New(ctypes.addressof(self._managed), _DLTENSOR_NAME, None)


C64, F32, F64 = (5, 64), (2, 32), (2, 64)


def fake_extract_args(n_groups=2, c=4, h=8, w=9):
    return FakeCAI((h, w), "<c8"), FakeCAI((n_groups, c, 2), "<f8")


# ------------------------------------------------- the interface parsers


def test_parse_cuda_array_interface_fields():
    view = _arrays.parse_cuda_array_interface(
        {"shape": (3, 4), "typestr": "<f4", "data": (1234, True), "version": 2,
         "strides": (16, 4), "descr": [("", "<f4")]}, "x")
    assert view.ptr == 1234 and view.readonly and view.shape == (3, 4)
    assert view.dtype == np.float32 and view.strides == (16, 4) and view.version == 2
    assert view.stream is None
    view = _arrays.parse_cuda_array_interface(
        {"shape": [0], "typestr": "<c8", "data": (0, False), "version": 3, "stream": 1}, "x")
    assert view.ptr == 0 and view.shape == (0,) and view.stream == 1 and view.strides is None


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"version": None}, ValueError, "version"),
        ({"version": -1}, ValueError, "version"),
        ({"version": True}, ValueError, "version"),
        ({"shape": (3, -1)}, ValueError, "shape"),
        ({"shape": 3}, ValueError, "shape"),
        ({"typestr": 4}, TypeError, "typestr"),
        ({"typestr": "<zz"}, TypeError, "typestr"),
        ({"data": 1234}, ValueError, "data"),
        ({"data": (1.5, False)}, ValueError, "data"),
        ({"data": (0, False)}, ValueError, "null"),
        ({"strides": (4,)}, ValueError, "strides"),
        ({"mask": FakeCAI((3, 4), "|b1")}, ValueError, "mask"),
        ({"stream": 0}, ValueError, "stream"),
        ({"stream": "default"}, ValueError, "stream"),
    ],
)
def test_parse_cuda_array_interface_rejects(change, error, match):
    cai = {"shape": (3, 4), "typestr": "<f4", "data": (1234, False), "version": 3}
    cai.update(change)
    with pytest.raises(error, match=match):
        _arrays.parse_cuda_array_interface(cai, "x")


@pytest.mark.parametrize("missing", ["shape", "typestr", "data", "version"])
def test_parse_cuda_array_interface_requires_keys(missing):
    cai = {"shape": (3, 4), "typestr": "<f4", "data": (1234, False), "version": 3}
    del cai[missing]
    with pytest.raises(ValueError, match=missing):
        _arrays.parse_cuda_array_interface(cai, "x")


def test_interface_must_be_a_dict():
    fake = FakeCAI((2, 2), "<f4")
    fake.__cuda_array_interface__ = [1, 2]
    with pytest.raises(TypeError, match="must be a dict"):
        ptychopatch.extract_patches(fake, FakeCAI((1, 1, 2), "<f8"), 3)


@pytest.mark.parametrize(
    "shape, strides, itemsize, expected",
    [
        ((3, 4), None, 4, True),
        ((3, 4), (16, 4), 4, True),
        ((3, 4), (4, 12), 4, False),
        ((3, 4), (32, 8), 4, False),
        ((3, 1), (4, 999), 4, True),  # length-1 axes may have any stride
        ((0, 4), (7, 3), 4, True),  # empty arrays are contiguous
        ((2, 3, 2), (48, 16, 8), 8, True),
        ((2, 3, 2), (48, 16, -8), 8, False),
    ],
)
def test_contiguity(shape, strides, itemsize, expected):
    assert _arrays.is_c_contiguous(shape, strides, itemsize) is expected


@pytest.mark.parametrize("dtype", [np.complex64, np.float32, np.float64, np.int16])
def test_parse_dlpack_capsule_of_a_numpy_array(dtype):
    base = np.arange(24).reshape(4, 6).astype(dtype)
    for arr in (base, base[1:, ::2]):
        capsule = arr.__dlpack__()
        view = _arrays.parse_dlpack_capsule(capsule, "x")
        assert view.ptr == arr.ctypes.data
        assert view.shape == arr.shape and view.dtype == arr.dtype
        assert view.device == (1, 0)
        if view.strides is not None:
            assert view.strides == arr.strides
        assert _arrays.is_c_contiguous(view.shape, view.strides, arr.itemsize) == \
            arr.flags.c_contiguous
        del capsule  # the producer's deleter runs here, not twice


def test_parse_dlpack_rejects_non_capsules():
    with pytest.raises(TypeError, match="capsule"):
        _arrays.parse_dlpack_capsule(object(), "x")


def test_host_arrays_are_not_device_arrays():
    for value in (np.zeros(3), [1.0, 2.0], 3.0, np.float32(2), np.zeros(3)[::2]):
        assert _arrays.device_array(value, "x") is None
    # A DLPack object on the CPU is left to numpy.
    assert _arrays.device_array(FakeDLPack((2, 2), F32, device_type=1), "x") is None


# --------------------------------------------- device calls without a GPU


@needs_no_gpu
@pytest.mark.parametrize("backend", ["auto", "gpu"])
@pytest.mark.parametrize("layout", ["channel", "flat"])
def test_extract_with_fake_cai_stops_at_backend_unavailable(backend, layout):
    obj, off = fake_extract_args()
    with pytest.raises(ptychopatch.PtychoPatchError) as info:
        ptychopatch.extract_patches(obj, off, 5, layout=layout, backend=backend)
    assert info.value.status == _native.PTP_ERROR_BACKEND_UNAVAILABLE
    assert info.value.function == "ptp_context_create"


@needs_no_gpu
@pytest.mark.parametrize("obj_type, off_type", [("<f4", "<f4"), ("<c8", "<f8")])
def test_reassemble_with_fake_cai_stops_at_backend_unavailable(obj_type, off_type):
    patches, off = FakeCAI((3, 5, 5, 4), obj_type), FakeCAI((3, 4, 2), off_type)
    for kwargs in ({}, {"average": True}, {"return_weights": False}, {"layout": "channel"}):
        with pytest.raises(ptychopatch.PtychoPatchError) as info:
            ptychopatch.reassemble_patches(patches, off, (10, 10), **kwargs)
        assert info.value.status_name == "PTP_ERROR_BACKEND_UNAVAILABLE"


@needs_no_gpu
def test_get_image_patches_with_fake_cai_stops_at_backend_unavailable():
    for image_shape in ((8, 8), (8, 8, 1)):
        with pytest.raises(ptychopatch.PtychoPatchError) as info:
            ptychopatch.get_image_patches(FakeCAI(image_shape, "<c8"),
                                          FakeCAI((2, 1, 2, 1), "<f4"),
                                          FakeCAI((2, 1, 2, 4), "<f4"), 4, 2)
        assert info.value.status_name == "PTP_ERROR_BACKEND_UNAVAILABLE"


@needs_no_gpu
def test_empty_fake_arrays_with_null_pointers_are_accepted_until_the_backend():
    with pytest.raises(ptychopatch.PtychoPatchError, match="BACKEND_UNAVAILABLE"):
        ptychopatch.extract_patches(FakeCAI((4, 4), "<f4"), FakeCAI((0, 4, 2), "<f4", ptr=0), 3)
    with pytest.raises(ptychopatch.PtychoPatchError, match="BACKEND_UNAVAILABLE"):
        ptychopatch.reassemble_patches(FakeCAI((0, 3, 3), "<f4", ptr=0),
                                       FakeCAI((0, 2), "<f4", ptr=0), (4, 4), "flat")


@needs_no_gpu
def test_fake_dlpack_device_array_stops_at_backend_unavailable():
    obj = FakeDLPack((8, 9), C64)
    off = FakeDLPack((2, 4, 2), F64, strides=(8, 2, 1))  # explicit, contiguous strides
    with pytest.raises(ptychopatch.PtychoPatchError) as info:
        ptychopatch.extract_patches(obj, off, 5)
    assert info.value.status_name == "PTP_ERROR_BACKEND_UNAVAILABLE"
    assert obj.dlpack_calls == 1 and off.dlpack_calls == 1


def test_cpu_backend_refuses_device_arrays():
    obj, off = fake_extract_args()
    with pytest.raises(ValueError, match='backend="cpu"'):
        ptychopatch.extract_patches(obj, off, 5, backend="cpu")
    with pytest.raises(ValueError, match='backend="cpu"'):
        ptychopatch.reassemble_patches(FakeCAI((2, 5, 5, 4), "<c8"), off, (8, 9),
                                       backend="cpu")


def test_device_arrays_still_validate_python_arguments():
    obj, off = fake_extract_args()
    with pytest.raises(ValueError, match="backend"):
        ptychopatch.extract_patches(obj, off, 5, backend="bogus")
    with pytest.raises(ValueError, match="num_threads"):
        ptychopatch.extract_patches(obj, off, 5, num_threads=-1)
    with pytest.raises(ValueError, match="layout"):
        ptychopatch.extract_patches(obj, off, 5, layout="planar")


# ------------------------------------------------- clear errors, any machine


@pytest.mark.parametrize(
    "obj, off, error, match",
    [
        (FakeCAI((8, 8), "<c8", strides=(8, 64)), FakeCAI((1, 1, 2), "<f8"), ValueError,
         "obj is a non-contiguous device array"),
        (FakeCAI((8, 8), "<c8"), FakeCAI((1, 3, 2), "<f8", strides=(96, 32, 8)), ValueError,
         "offsets is a non-contiguous"),
        (FakeCAI((8, 8), "<c16"), FakeCAI((1, 1, 2), "<f8"), TypeError,
         "obj is a device array of dtype <c16"),
        (FakeCAI((8, 8), "<f8"), FakeCAI((1, 1, 2), "<f8"), TypeError, "complex64 or float32"),
        (FakeCAI((8, 8), ">f4"), FakeCAI((1, 1, 2), "<f8"), TypeError, "byte order"),
        (FakeCAI((8, 8), "<c8"), FakeCAI((1, 1, 2), "<i8"), TypeError,
         "offsets is a device array of dtype <i8"),
        (FakeCAI((8, 8), "<c8"), FakeCAI((1, 1, 2), "<f2"), TypeError, "float32 or float64"),
        (FakeCAI((8, 8, 2), "<c8"), FakeCAI((1, 1, 2), "<f8"), ValueError,
         r"obj must have shape \(H, W\) or \(H, W, 1\)"),
        (FakeCAI((8, 8), "<c8"), FakeCAI((1, 2), "<f8"), ValueError, "offsets must have shape"),
        (FakeCAI((8, 8), "<c8"), np.zeros((1, 1, 2)), TypeError,
         "obj is on a CUDA device but offsets is in host memory"),
        (np.zeros((8, 8), np.complex64), FakeCAI((1, 1, 2), "<f8"), TypeError,
         "offsets is on a CUDA device but obj is in host memory"),
        (FakeCAI((8, 8), "<c8"), [[[1.0, 2.0]]], TypeError, "cannot be mixed"),
        (FakeCAIOnDevice(0, (8, 8), "<c8"), FakeCAIOnDevice(1, (1, 1, 2), "<f8"), ValueError,
         "obj on device 0, offsets on device 1"),
        (FakeDLPack((8, 8), C64, device=1), FakeCAI((1, 1, 2), "<f8"), ValueError,
         "one CUDA device"),
        (FakeDLPack((8, 8), C64, strides=(1, 8)), FakeDLPack((1, 1, 2), F64), ValueError,
         "non-contiguous"),
        (FakeDLPack((8, 8), (4, 16)), FakeDLPack((1, 1, 2), F64), TypeError, "DLPack type"),
        (FakeDLPack((8, 8), C64, device_type=10), FakeDLPack((1, 1, 2), F64), TypeError,
         "neither the host"),
        (FakeDLPack((8, 8), C64, ptr=0), FakeDLPack((1, 1, 2), F64), ValueError,
         "null data pointer"),
    ],
)
def test_extract_device_misuse_is_a_clear_error(obj, off, error, match):
    with pytest.raises(error, match=match):
        ptychopatch.extract_patches(obj, off, 3)


@pytest.mark.parametrize(
    "patches, off, layout, error, match",
    [
        (FakeCAI((2, 5, 5, 4), "<c8", strides=(800, 8, 40, 200)), FakeCAI((2, 4, 2), "<f8"),
         "channel", ValueError, "patches is a non-contiguous"),
        (FakeCAI((2, 5, 5, 4), "<f8"), FakeCAI((2, 4, 2), "<f8"), "channel", TypeError,
         "patches is a device array of dtype <f8"),
        (FakeCAI((2, 5, 5, 4), "<c8"), FakeCAI((2, 4, 2), "<c8"), "channel", TypeError,
         "offsets is a device array"),
        (FakeCAI((2, 5, 5, 4), "<c8"), FakeCAI((2, 3, 2), "<f8"), "channel", ValueError,
         "to match patches"),
        (FakeCAI((8, 5, 5), "<c8"), FakeCAI((2, 3, 2), "<f8"), "flat", ValueError,
         "give 6 patches"),
        (FakeCAI((8, 5, 5), "<c8"), np.zeros((8, 2)), "flat", TypeError, "cannot be mixed"),
    ],
)
def test_reassemble_device_misuse_is_a_clear_error(patches, off, layout, error, match):
    with pytest.raises(error, match=match):
        ptychopatch.reassemble_patches(patches, off, (9, 9), layout)


@pytest.mark.parametrize(
    "image, g, loc, error, match",
    [
        (FakeCAI((8, 8), "<f4"), FakeCAI((2, 1, 2, 1), "<f4"), FakeCAI((2, 1, 2, 4), "<f4"),
         TypeError, "gt_image is a device array of dtype <f4"),
        (FakeCAI((8, 8), "<c8"), FakeCAI((2, 1, 2, 1), "<f4"), FakeCAI((2, 1, 2, 4), "<f8"),
         TypeError, "both must be float32 or both float64"),
        (FakeCAI((8, 8, 2), "<c8"), FakeCAI((2, 1, 2, 1), "<f4"), FakeCAI((2, 1, 2, 4), "<f4"),
         ValueError, "gt_image"),
        (FakeCAI((8, 8), "<c8"), FakeCAI((2, 1, 2, 1), "<f4"), FakeCAI((2, 1, 2, 9), "<f4"),
         ValueError, "local_offsets"),
        (FakeCAI((8, 8), "<c8"), np.zeros((2, 1, 2, 1)), FakeCAI((2, 1, 2, 4), "<f4"),
         TypeError, "global_offsets is in host memory"),
    ],
)
def test_get_image_patches_device_misuse_is_a_clear_error(image, g, loc, error, match):
    with pytest.raises(error, match=match):
        ptychopatch.get_image_patches(image, g, loc, 4, 2)


def test_torch_tensor_requiring_grad_is_refused():
    class Tensor(FakeCAI):  # looks like torch.Tensor to the binding
        is_cuda = True
        requires_grad = True

    Tensor.__module__ = "torch"
    with pytest.raises(ValueError, match=r"requires grad.*obj.detach\(\)"):
        ptychopatch.extract_patches(Tensor((4, 4), "<c8"), FakeCAI((1, 1, 2), "<f8"), 3)


def test_legacy_offsets_refuses_device_arrays():
    with pytest.raises(TypeError, match="host"):
        ptychopatch.legacy_offsets(FakeCAI((1, 1, 2, 1), "<f8"), np.zeros((1, 1, 2, 1)))


def test_average_needs_an_array_library():
    with pytest.raises(TypeError, match="average=True"):
        _arrays.average_in_place(None, None, "numba")


def test_stream_of_unknown_producers_is_the_interface_entry():
    def device(**extra):
        return _arrays.device_array(FakeCAI((2, 2), "<f4", **extra), "x")

    assert _arrays.stream_of(device()) == 0  # no entry: NULL, the default stream
    assert _arrays.stream_of(device(stream=None)) == 0
    assert _arrays.stream_of(device(stream=1)) == 1  # cudaStreamLegacy
    assert _arrays.stream_of(device(stream=0xABC0)) == 0xABC0
    assert _arrays.device_array(FakeCAIOnDevice(3, (2, 2), "<f4"), "x").device == 3
    assert device().device == 0


# ----------------------------------------------- the C library's contract


def test_context_stream_on_a_cpu_context():
    from ptychopatch import _context

    ctx = _context.context("cpu", 1)
    stream = ctypes.c_void_p(123)
    _native.context_get_stream(ctx, ctypes.byref(stream))
    assert stream.value is None
    _native.context_set_stream(ctx, None)
    with pytest.raises(ptychopatch.PtychoPatchError) as info:
        _native.context_set_stream(ctx, 0x1234)
    assert info.value.status == _native.PTP_ERROR_UNSUPPORTED
    _native.context_get_stream(ctx, ctypes.byref(stream))
    assert stream.value is None  # nothing written on failure


_CHILD = textwrap.dedent(
    """
    import ctypes, sys
    from ptychopatch import _context, _native, PtychoPatchError

    BOGUS = 0x10  # dereferencing it would crash this process
    ctx = _context.context("cpu", 1)
    desc = _native.new_extract_desc()
    desc.height, desc.width, desc.patch_size, desc.group_size = 8, 8, 3, 2
    desc.memory = _native.PTP_MEMORY_DEVICE
    out = []

    def expect_unsupported(name, call):
        try:
            call()
        except PtychoPatchError as exc:
            out.append(f"{name}:{exc.status_name}")
        else:
            out.append(f"{name}:no error")

    with _context.plan(ctx, desc) as plan:
        expect_unsupported("extract", lambda: _native.extract_execute(
            plan, BOGUS, BOGUS, 4, BOGUS, 1 << 20))
        expect_unsupported("legacy", lambda: _native.extract_execute_legacy(
            plan, BOGUS, BOGUS, BOGUS, 2, BOGUS, 1 << 20))
        expect_unsupported("reassemble", lambda: _native.reassemble_execute(
            plan, BOGUS, BOGUS, 4, BOGUS, 1 << 20, BOGUS, 1 << 20))
    expect_unsupported("reassemble_oneshot", lambda: _native.reassemble_patches(
        ctx, ctypes.byref(desc), BOGUS, BOGUS, 4, BOGUS, 1 << 20, BOGUS, 1 << 20))
    print(" ".join(out))
    """
)


def test_library_rejects_device_memory_on_cpu_context_before_touching_it():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert proc.stdout.split() == [
        "extract:PTP_ERROR_UNSUPPORTED", "legacy:PTP_ERROR_UNSUPPORTED",
        "reassemble:PTP_ERROR_UNSUPPORTED", "reassemble_oneshot:PTP_ERROR_UNSUPPORTED",
    ], proc.stderr


def test_gpu_libraries_are_not_imported():
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        import ptychopatch
        ptychopatch.extract_patches(np.ones((4, 4)), np.zeros((1, 1, 2)), 3)
        ptychopatch.reassemble_patches(np.ones((1, 3, 3, 1)), np.zeros((1, 1, 2)), (4, 4))
        print(sorted(m for m in ("cupy", "torch", "numba", "jax") if m in sys.modules))
        """
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
