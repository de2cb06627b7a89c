"""Real datasets from files on disk: IDX (MNIST, Fashion-MNIST), the CIFAR python batches, CSV and
``.npz`` — pure NumPy and the standard library, nothing downloaded.

=====================  ==========================================================================
reader                 returns
=====================  ==========================================================================
load_idx(path)         the array an IDX file holds (``.gz`` or raw), in native byte order
load_mnist(folder)     ((x_train, y_train), (x_test, y_test)): x (N, 28, 28, 1) float32 in [0, 1]
load_cifar10(folder)   ((x_train, y_train), (x_test, y_test)): x (N, 32, 32, 3) float32 in [0, 1]
load_cifar100(folder)  the same with 100 fine (or 20 coarse) labels
load_csv(path)         (X float32, y) with non-numeric columns turned into integer codes
load_npz(path)         (X, y) from two arrays of a ``.npz`` (``allow_pickle=False``)
load_images(path)      any of the above by looking at ``path``; the bundled digits when ``None``
=====================  ==========================================================================

Labels are int64. ``normalize=False`` keeps the images as uint8 (0..255).

**Safety of the CIFAR batches.** The CIFAR "python version" files are Python pickles, and
unpickling runs whatever functions the file names — a doctored file can execute any code. These
files are therefore never given to :mod:`pickle`. :func:`read_pickled_arrays` is a small pickle
*reader*: it walks the opcodes itself and builds only dicts, lists, tuples, strings, bytes,
numbers, and NumPy arrays of plain numeric dtypes. The few global names a NumPy array's pickle
mentions (``numpy._core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``,
``numpy._core.numeric._frombuffer``, ``_codecs.encode``, with their ``numpy.core`` spellings) are
recognised as *names* and replaced by the reader's own code — nothing is imported and nothing the
file names is ever called. Any other global, or an opcode that builds arbitrary objects (``INST``,
``OBJ``, ``NEWOBJ``, persistent ids, extensions, out-of-band buffers) raises
:class:`~glassnet.errors.FileFormatError` before anything runs.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import gzip
import io
import os
import struct
import tarfile
import zipfile
import zlib

import numpy as np

from .. import backend
from ..errors import FileFormatError, InputError, UnknownNameError

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

_GZIP_MAGIC = b"\x1f\x8b"


# ====================================================================================== helpers
def _path(path) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file or folder: {path!r}.")
    return path


def _read_bytes(path) -> bytes:
    """The bytes of a file, decompressed when it is gzip (detected by its magic number, not its name)."""
    path = _path(path)
    if os.path.isdir(path):
        raise InputError(f"Expected a file, got the folder {path!r}.")
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise FileFormatError(f"{path!r} is a corrupted or truncated gzip file ({exc}).") from None
    return raw


def _images(x: np.ndarray, normalize: bool) -> np.ndarray:
    """uint8 images → float32 in [0, 1] (``normalize``) or kept as uint8."""
    if not normalize:
        return x
    out = x.astype(backend.floatx())
    return np.divide(out, out.dtype.type(255.0), out=out)


def _check_labels(y: np.ndarray, n_classes: int, where: str) -> np.ndarray:
    y = np.asarray(y)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise FileFormatError(f"{where}: labels must be in 0..{n_classes - 1}, found values in "
                              f"{int(y.min())}..{int(y.max())}.")
    return y.astype(np.int64)


# ========================================================================================== IDX
# IDX (LeCun's MNIST format): two zero bytes, a type code, the rank, then one big-endian uint32
# per dimension, then the values, big-endian, in C order.
_IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def load_idx(path) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into an array of its shape, in native byte order.

    Header: ``0x00 0x00 <type> <rank>`` then ``rank`` big-endian uint32 sizes. Types: 0x08 uint8,
    0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64. The data must be exactly
    ``prod(sizes) · itemsize`` bytes: a truncated or padded file raises FileFormatError.
    """
    raw = _read_bytes(path)
    where = f"IDX file {os.fspath(path)!r}"
    if len(raw) < 4:
        raise FileFormatError(f"{where} is {len(raw)} bytes long; an IDX header needs at least 4.")
    if raw[0] != 0 or raw[1] != 0:
        raise FileFormatError(f"{where} does not start with the IDX magic number (two zero bytes, then the type "
                              f"and rank); found bytes {raw[:4].hex(' ')}. Is it an IDX file?")
    code, rank = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise FileFormatError(f"{where} has the unknown data type code 0x{code:02X}; expected one of {valid}.")
    if rank == 0:
        raise FileFormatError(f"{where} declares rank 0; an IDX array has at least one dimension.")
    header = 4 + 4 * rank
    if len(raw) < header:
        raise FileFormatError(f"{where} is truncated: its header declares {rank} dimensions ({header} bytes), "
                              f"but the file has only {len(raw)} bytes.")
    shape = struct.unpack(f">{rank}I", raw[4:header])
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found < expected:
        raise FileFormatError(f"{where} is truncated: shape {shape} of {dtype.name} needs {expected} bytes of data "
                              f"after the header, found {found}.")
    if found > expected:
        raise FileFormatError(f"{where} has {found - expected} unexpected bytes after the {expected} bytes of data "
                              f"its header (shape {shape}, {dtype.name}) declares.")
    data = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte",
}
_MNIST_KINDS = {"mnist": ("MNIST", "mnist"), "fashion_mnist": ("FashionMNIST", "fashion_mnist", "fashion-mnist")}


def _mnist_candidates(stem: str) -> list:
    dotted = stem.replace("-idx", ".idx")  # a common re-packaging: train-images.idx3-ubyte
    return [name for s in (stem, dotted) for name in (s, s + ".gz")]


def _find_mnist_folder(folder: str, kind: str):
    """The folder holding the four IDX files: ``folder`` itself, or the layouts torchvision and
    others use (``folder/MNIST/raw``, ``folder/FashionMNIST/raw``, ``folder/fashion_mnist``...)."""
    subfolders = [""]
    for name in _MNIST_KINDS[kind]:
        subfolders += [name, os.path.join(name, "raw")]
    subfolders.append("raw")
    for sub in subfolders:
        candidate = os.path.join(folder, sub)
        if os.path.isdir(candidate):
            found = {key: next((os.path.join(candidate, n) for n in _mnist_candidates(stem)
                                if os.path.isfile(os.path.join(candidate, n))), None)
                     for key, stem in _MNIST_FILES.items()}
            if all(found.values()):
                return found
    return None


def load_mnist(folder, kind: str = "mnist", normalize: bool = True):
    """MNIST or Fashion-MNIST from the four standard IDX files in ``folder``:
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte`` (each raw or ``.gz``; also found in ``folder/MNIST/raw`` or
    ``folder/FashionMNIST/raw``, torchvision's layout).

    Returns ``((x_train, y_train), (x_test, y_test))``: x (N, 28, 28, 1) float32 in [0, 1]
    (``normalize=False``: uint8 0..255), y int64 in 0..9. ``kind`` ('mnist' or 'fashion_mnist')
    only chooses which sub-folders are searched; class names are in ``MNIST_CLASSES`` and
    ``FASHION_MNIST_CLASSES``.
    """
    key = str(kind).strip().lower().replace("-", "_")
    if key not in _MNIST_KINDS:
        raise UnknownNameError("MNIST kind", kind, list(_MNIST_KINDS))
    folder = _path(folder)
    if not os.path.isdir(folder):
        raise InputError(f"load_mnist expects a folder holding the four IDX files, got the file {folder!r}.")
    files = _find_mnist_folder(folder, key)
    if files is None:
        expected = ", ".join(f"{stem}[.gz]" for stem in _MNIST_FILES.values())
        raise FileNotFoundError(f"No {key} IDX files in {folder!r}: expected {expected}. "
                                f"The folder contains: {sorted(os.listdir(folder))[:20]}.")
    arrays = {name: load_idx(path) for name, path in files.items()}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.dtype != np.uint8:
            raise FileFormatError(f"{files[f'x_{split}']!r} should hold uint8 images of shape (N, rows, cols), "
                                  f"found {x.dtype.name} of shape {x.shape}.")
        if y.ndim != 1 or len(y) != len(x):
            raise FileFormatError(f"{files[f'y_{split}']!r} should hold {len(x)} labels (one per image), "
                                  f"found shape {y.shape}.")
        arrays[f"x_{split}"] = _images(x[..., None], normalize)
        arrays[f"y_{split}"] = _check_labels(y, 10, repr(files[f"y_{split}"]))
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


# ======================================================================= safe pickle reader
class _Global:
    """A global name from the stream, kept as a name: never imported, never called."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


class _DtypeStub:
    __slots__ = ("args", "state")

    def __init__(self, args):
        self.args, self.state = args, None


class _ArrayStub:
    __slots__ = ("args", "state")

    def __init__(self, args):
        self.args, self.state = args, None


# module.name → what the reader does for it (the old numpy.core and the NumPy 2 numpy._core spellings)
_ALLOWED_GLOBALS = {
    "numpy.core.multiarray._reconstruct": "reconstruct", "numpy._core.multiarray._reconstruct": "reconstruct",
    "numpy.ndarray": "ndarray", "numpy.dtype": "dtype",
    "numpy.core.numeric._frombuffer": "frombuffer", "numpy._core.numeric._frombuffer": "frombuffer",
    "_codecs.encode": "encode",
}
_SAFE_DTYPE_KINDS = "biuf" + "c"  # booleans, integers, floats, complex — nothing that holds objects


def _dtype_from_stub(stub, where: str) -> np.dtype:
    if not isinstance(stub, _DtypeStub) or not stub.args or not isinstance(stub.args[0], (str, bytes)):
        raise FileFormatError(f"{where}: malformed NumPy dtype in the pickle.")
    name = stub.args[0].decode("ascii") if isinstance(stub.args[0], bytes) else stub.args[0]
    try:
        dtype = np.dtype(name)
    except TypeError:
        raise FileFormatError(f"{where}: unknown NumPy dtype {name!r} in the pickle.") from None
    if dtype.kind not in _SAFE_DTYPE_KINDS:
        raise FileFormatError(f"{where}: refusing a NumPy array of dtype {name!r}; only numeric arrays are read.")
    state = stub.state
    if isinstance(state, tuple) and len(state) >= 2 and isinstance(state[1], (str, bytes)):
        order = state[1].decode("ascii") if isinstance(state[1], bytes) else state[1]
        if order in "<>":
            dtype = dtype.newbyteorder(order)
    return dtype


def _array(raw, dtype: np.dtype, shape, fortran: bool, where: str) -> np.ndarray:
    if not isinstance(raw, (bytes, bytearray)):
        raise FileFormatError(f"{where}: a NumPy array's data in the pickle is not raw bytes "
                              f"(object arrays are refused).")
    if not isinstance(shape, tuple) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise FileFormatError(f"{where}: malformed array shape {shape!r} in the pickle.")
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) != count * dtype.itemsize:
        raise FileFormatError(f"{where}: an array of shape {shape} and dtype {dtype} needs "
                              f"{count * dtype.itemsize} bytes, the pickle holds {len(raw)}.")
    flat = np.frombuffer(raw, dtype=dtype, count=count)
    return flat.reshape(shape, order="F" if fortran else "C").astype(dtype.newbyteorder("="), order="C")


def _finish_array(stub: _ArrayStub, where: str) -> np.ndarray:
    """ndarray state: (version, shape, dtype, is_fortran, rawdata) or the same without version."""
    state = stub.state
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise FileFormatError(f"{where}: malformed NumPy array state in the pickle.")
    shape, dtype, fortran, raw = state[-4:]
    return _array(raw, _dtype_from_stub(dtype, where), shape, bool(fortran), where)


def _resolve(obj, where: str, seen: dict):
    """Replace array stubs by arrays inside the containers the stream built."""
    key = id(obj)
    if key in seen:
        return seen[key]
    if isinstance(obj, _ArrayStub):
        out = _finish_array(obj, where)
    elif isinstance(obj, (_DtypeStub, _Global)):
        raise FileFormatError(f"{where}: a bare NumPy dtype or global name is not expected data.")
    elif isinstance(obj, list):
        out = obj
        seen[key] = out
        if any(isinstance(v, (list, dict, tuple, _ArrayStub, _DtypeStub, _Global)) for v in obj):
            obj[:] = [_resolve(v, where, seen) for v in obj]
    elif isinstance(obj, dict):
        out = obj
        seen[key] = out
        for k, v in list(obj.items()):
            obj[k] = _resolve(v, where, seen)
    elif isinstance(obj, tuple):
        out = tuple(_resolve(v, where, seen) for v in obj)
    else:
        out = obj
    seen[key] = out
    return out


class _PickleReader:
    """Reads the subset of the pickle protocol (0-5) that plain data and NumPy arrays use, by
    interpreting the opcodes itself. Strings pickled by Python 2 (``STRING``/``BINSTRING``) become
    bytes, like ``pickle.load(f, encoding='bytes')``."""

    def __init__(self, data: bytes, where: str):
        self.data, self.view, self.pos, self.where = data, memoryview(data), 0, where
        self.stack, self.marks, self.memo = [], [], {}

    # ---------------------------------------------------------------- input
    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise FileFormatError(f"{self.where} is truncated: the pickle needs {n} more bytes at offset {self.pos}, "
                                  f"the file has {len(self.data) - self.pos}.")
        out = self.view[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def line(self) -> bytes:
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            raise FileFormatError(f"{self.where} is truncated: a text opcode at offset {self.pos} has no end of line.")
        out = self.data[self.pos:end]
        self.pos = end + 1
        return out

    def pop_mark(self) -> list:
        if not self.marks:
            raise FileFormatError(f"{self.where}: malformed pickle (a MARK is missing).")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def pop(self):
        if not self.stack:
            raise FileFormatError(f"{self.where}: malformed pickle (stack underflow at offset {self.pos}).")
        return self.stack.pop()

    # ---------------------------------------------------------------- calls the reader allows
    def reduce(self, func, args):
        if not isinstance(func, _Global) or not isinstance(args, tuple):
            raise FileFormatError(f"{self.where}: the pickle calls something that is not an allowed NumPy "
                                  f"constructor; refused.")
        kind = _ALLOWED_GLOBALS[func.name]
        if kind == "encode":  # _codecs.encode(text, 'latin1'): how Python 3 pickles bytes at protocol < 3
            if len(args) != 2 or not isinstance(args[0], str) or args[1] not in ("latin1", "latin-1"):
                raise FileFormatError(f"{self.where}: unexpected _codecs.encode{args!r} in the pickle.")
            return args[0].encode("latin1")
        if kind == "dtype":
            return _DtypeStub(args)
        if kind == "reconstruct":
            if not args or not isinstance(args[0], _Global) or _ALLOWED_GLOBALS[args[0].name] != "ndarray":
                raise FileFormatError(f"{self.where}: _reconstruct may only build a numpy.ndarray.")
            return _ArrayStub(args)
        if kind == "frombuffer":  # protocol 5: _frombuffer(buffer, dtype, shape, order)
            if len(args) != 4:
                raise FileFormatError(f"{self.where}: malformed _frombuffer call in the pickle.")
            buf, dtype, shape, order = args
            return _array(buf, _dtype_from_stub(dtype, self.where), shape, order == "F", self.where)
        raise FileFormatError(f"{self.where}: {func.name} cannot be called.")

    def build(self, obj, state):
        if isinstance(obj, (_ArrayStub, _DtypeStub)) and obj.state is None:
            obj.state = state
            return
        raise FileFormatError(f"{self.where}: the pickle sets the state of an object other than a NumPy "
                              f"array or dtype; refused.")

    def global_name(self, module: str, name: str) -> _Global:
        full = f"{module}.{name}"
        if full not in _ALLOWED_GLOBALS:
            raise FileFormatError(f"{self.where}: refusing to load: the pickle refers to {full!r}. Only plain data "
                                  f"and NumPy arrays are read (never code); the file is not a dataset batch or has "
                                  f"been tampered with.")
        return _Global(full)

    # ---------------------------------------------------------------- the loop
    def read(self):
        take, unpack, stack, memo = self.take, self.unpack, self.stack, self.memo
        while True:
            op = take(1)[0]
            if op == 0x2E:  # STOP
                if len(stack) != 1:
                    raise FileFormatError(f"{self.where}: malformed pickle (stack has {len(stack)} items at STOP).")
                return stack.pop()
            elif op == 0x80:  # PROTO
                protocol = take(1)[0]
                if protocol > 5:
                    raise FileFormatError(f"{self.where}: unsupported pickle protocol {protocol}.")
            elif op == 0x95:  # FRAME (a length hint only)
                unpack("<Q")
            elif op == 0x28:  # MARK
                self.marks.append(len(stack))
            elif op == 0x30:  # POP
                self.pop()
            elif op == 0x31:  # POP_MARK
                self.pop_mark()
            elif op == 0x32:  # DUP
                stack.append(stack[-1])
            # -- scalars
            elif op == 0x4E:  # NONE
                stack.append(None)
            elif op == 0x88:  # NEWTRUE
                stack.append(True)
            elif op == 0x89:  # NEWFALSE
                stack.append(False)
            elif op == 0x4B:  # BININT1
                stack.append(take(1)[0])
            elif op == 0x4D:  # BININT2
                stack.append(unpack("<H"))
            elif op == 0x4A:  # BININT
                stack.append(unpack("<i"))
            elif op == 0x8A:  # LONG1
                stack.append(int.from_bytes(take(take(1)[0]), "little", signed=True))
            elif op == 0x8B:  # LONG4
                stack.append(int.from_bytes(take(unpack("<i")), "little", signed=True))
            elif op == 0x49:  # INT (text; 00/01 are False/True)
                text = self.line()
                stack.append(text == b"01" if text in (b"00", b"01") else self._int(text))
            elif op == 0x4C:  # LONG (text)
                stack.append(self._int(self.line().rstrip(b"L")))
            elif op == 0x47:  # BINFLOAT
                stack.append(unpack(">d"))
            elif op == 0x46:  # FLOAT (text)
                try:
                    stack.append(float(self.line()))
                except ValueError:
                    raise FileFormatError(f"{self.where}: malformed FLOAT in the pickle.") from None
            # -- strings and bytes
            elif op == 0x55:  # SHORT_BINSTRING (Python 2 str → bytes)
                stack.append(bytes(take(take(1)[0])))
            elif op == 0x54:  # BINSTRING
                stack.append(bytes(take(unpack("<i"))))
            elif op == 0x53:  # STRING (text, a quoted literal)
                try:
                    value = ast.literal_eval(self.line().decode("latin1"))
                except (ValueError, SyntaxError):
                    raise FileFormatError(f"{self.where}: malformed STRING in the pickle.") from None
                if not isinstance(value, str):
                    raise FileFormatError(f"{self.where}: malformed STRING in the pickle.")
                stack.append(value.encode("latin1"))
            elif op == 0x43:  # SHORT_BINBYTES
                stack.append(bytes(take(take(1)[0])))
            elif op == 0x42:  # BINBYTES
                stack.append(bytes(take(unpack("<I"))))
            elif op in (0x8E, 0x96):  # BINBYTES8, BYTEARRAY8
                stack.append(bytes(take(unpack("<Q"))))
            elif op == 0x8C:  # SHORT_BINUNICODE
                stack.append(self._text(take(take(1)[0])))
            elif op == 0x58:  # BINUNICODE
                stack.append(self._text(take(unpack("<I"))))
            elif op == 0x8D:  # BINUNICODE8
                stack.append(self._text(take(unpack("<Q"))))
            elif op == 0x56:  # UNICODE (text)
                stack.append(self.line().decode("raw-unicode-escape"))
            # -- containers
            elif op == 0x29:  # EMPTY_TUPLE
                stack.append(())
            elif op == 0x74:  # TUPLE
                stack.append(tuple(self.pop_mark()))
            elif op in (0x85, 0x86, 0x87):  # TUPLE1..3
                n = op - 0x84
                if len(stack) < n:
                    raise FileFormatError(f"{self.where}: malformed pickle (stack underflow).")
                items = tuple(stack[-n:])
                del stack[-n:]
                stack.append(items)
            elif op == 0x5D:  # EMPTY_LIST
                stack.append([])
            elif op == 0x6C:  # LIST
                stack.append(self.pop_mark())
            elif op == 0x61:  # APPEND
                value = self.pop()
                self._list(stack[-1]).append(value)
            elif op == 0x65:  # APPENDS
                items = self.pop_mark()
                self._list(stack[-1] if stack else None).extend(items)
            elif op == 0x7D:  # EMPTY_DICT
                stack.append({})
            elif op == 0x64:  # DICT
                items = self.pop_mark()
                stack.append(self._pairs({}, items))
            elif op == 0x73:  # SETITEM
                value, key = self.pop(), self.pop()
                self._pairs(stack[-1] if stack else None, [key, value])
            elif op == 0x75:  # SETITEMS
                items = self.pop_mark()
                self._pairs(stack[-1] if stack else None, items)
            # -- memo
            elif op in (0x71, 0x72, 0x70, 0x94):  # BINPUT, LONG_BINPUT, PUT, MEMOIZE
                index = {0x71: lambda: take(1)[0], 0x72: lambda: unpack("<I"),
                         0x70: lambda: self._int(self.line()), 0x94: lambda: len(memo)}[op]()
                if not stack:
                    raise FileFormatError(f"{self.where}: malformed pickle (memoizing an empty stack).")
                memo[index] = stack[-1]
            elif op in (0x68, 0x6A, 0x67):  # BINGET, LONG_BINGET, GET
                index = {0x68: lambda: take(1)[0], 0x6A: lambda: unpack("<I"),
                         0x67: lambda: self._int(self.line())}[op]()
                if index not in memo:
                    raise FileFormatError(f"{self.where}: malformed pickle (memo entry {index} is missing).")
                stack.append(memo[index])
            # -- the only "objects": names of the NumPy reconstruction functions
            elif op == 0x63:  # GLOBAL "module\nname\n"
                module, name = self.line().decode("latin1"), self.line().decode("latin1")
                stack.append(self.global_name(module, name))
            elif op == 0x93:  # STACK_GLOBAL
                name, module = self.pop(), self.pop()
                if not isinstance(module, str) or not isinstance(name, str):
                    raise FileFormatError(f"{self.where}: malformed STACK_GLOBAL in the pickle.")
                stack.append(self.global_name(module, name))
            elif op == 0x52:  # REDUCE
                args, func = self.pop(), self.pop()
                stack.append(self.reduce(func, args))
            elif op == 0x62:  # BUILD
                state = self.pop()
                if not stack:
                    raise FileFormatError(f"{self.where}: malformed pickle (BUILD on an empty stack).")
                self.build(stack[-1], state)
            else:
                raise FileFormatError(f"{self.where}: refusing pickle opcode {bytes([op])!r} at offset {self.pos - 1}: "
                                      f"it builds arbitrary objects, which a dataset batch never needs.")

    # ---------------------------------------------------------------- small checks
    def _int(self, text: bytes) -> int:
        try:
            return int(text)
        except ValueError:
            raise FileFormatError(f"{self.where}: malformed integer {text[:20]!r} in the pickle.") from None

    def _text(self, raw) -> str:
        try:
            return bytes(raw).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise FileFormatError(f"{self.where}: invalid UTF-8 text in the pickle.") from None

    def _list(self, obj) -> list:
        if not isinstance(obj, list):
            raise FileFormatError(f"{self.where}: malformed pickle (APPEND to something that is not a list).")
        return obj

    def _pairs(self, obj, items: list) -> dict:
        if not isinstance(obj, dict) or len(items) % 2:
            raise FileFormatError(f"{self.where}: malformed pickle (SETITEM on something that is not a dict).")
        for k in range(0, len(items), 2):
            key = items[k]
            if isinstance(key, (list, dict, _ArrayStub, _DtypeStub, _Global)):
                raise FileFormatError(f"{self.where}: malformed pickle (unhashable dict key).")
            obj[key] = items[k + 1]
        return obj


def read_pickled_arrays(source, where: str | None = None):
    """Read a pickle that holds only plain data and numeric NumPy arrays — without unpickling it.

    ``source`` is a path or the file's bytes. Dicts, lists, tuples, str, bytes (Python 2 strings
    come back as bytes), int, float, bool, None and NumPy arrays of bool/int/uint/float/complex
    dtypes are rebuilt by this reader; anything else — any other global name, any object-building
    opcode — raises :class:`~glassnet.errors.FileFormatError` before it could run. This is how
    the CIFAR batches are read (see the module docstring).
    """
    if isinstance(source, (bytes, bytearray)):
        data, where = bytes(source), where or "pickle data"
    else:
        data, where = _read_bytes(source), where or f"{os.fspath(source)!r}"
    if not data:
        raise FileFormatError(f"{where} is empty.")
    reader = _PickleReader(data, where)
    try:
        return _resolve(reader.read(), where, {})
    except RecursionError:
        raise FileFormatError(f"{where}: the pickle is nested too deeply.") from None


# ===================================================================================== CIFAR
def _key(batch: dict, name: str):
    for key in (name.encode(), name):
        if key in batch:
            return batch[key]
    return None


def _cifar_batch(data: bytes, where: str, label_key: str):
    batch = read_pickled_arrays(data, where)
    if not isinstance(batch, dict):
        raise FileFormatError(f"{where} should hold a dict with 'data' and '{label_key}', "
                              f"found {type(batch).__name__}.")
    x, y = _key(batch, "data"), _key(batch, label_key)
    if x is None or y is None:
        raise FileFormatError(f"{where} should hold the keys 'data' and '{label_key}', "
                              f"found {sorted(map(str, batch))}.")
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        shape = getattr(x, "shape", None)
        raise FileFormatError(f"{where}: 'data' should be uint8 of shape (N, 3072) (32×32 pixels × 3 channels), "
                              f"found {getattr(x, 'dtype', type(x).__name__)} of shape {shape}.")
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x) or y.dtype.kind not in "iu":
        raise FileFormatError(f"{where}: '{label_key}' should be {len(x)} integer labels, found {y.dtype} {y.shape}.")
    # rows are [1024 red | 1024 green | 1024 blue], each 32×32 row-major → (N, 32, 32, 3)
    return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), y


class _CifarSource:
    """The batch files of a CIFAR folder (or its sub-folder), or members of the original .tar.gz."""

    def __init__(self, path: str, subfolder: str, names: list):
        self.archive = None
        if os.path.isfile(path) and tarfile.is_tarfile(path):
            self.archive = tarfile.open(path, "r:*")
            members = {os.path.basename(m.name): m for m in self.archive.getmembers() if m.isfile()}
            missing = [n for n in names if n not in members]
            if missing:
                raise FileNotFoundError(f"The archive {path!r} has no {missing}.")
            self.members = members
        else:
            folder = path if os.path.isfile(os.path.join(path, names[-1])) else os.path.join(path, subfolder)
            missing = [n for n in names if not os.path.isfile(os.path.join(folder, n))]
            if missing:
                listing = sorted(os.listdir(path))[:20] if os.path.isdir(path) else []
                raise FileNotFoundError(f"No CIFAR batches {missing} in {path!r} (nor in {subfolder}/ under it). "
                                        f"The folder contains: {listing}.")
            self.folder = folder

    def read(self, name: str):
        if self.archive is not None:
            return self.archive.extractfile(self.members[name]).read(), f"{name!r} in the archive"
        path = os.path.join(self.folder, name)
        return _read_bytes(path), repr(path)

    def close(self):
        if self.archive is not None:
            self.archive.close()


def _load_cifar(path, train: list, test: str, subfolder: str, label_key: str, n_classes: int, normalize: bool):
    source = _CifarSource(_path(path), subfolder, train + [test])
    try:
        parts = [_cifar_batch(*source.read(name), label_key) for name in train]
        x_test, y_test = _cifar_batch(*source.read(test), label_key)
    finally:
        source.close()
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return ((_images(x_train, normalize), _check_labels(y_train, n_classes, "CIFAR training labels")),
            (_images(x_test, normalize), _check_labels(y_test, n_classes, "CIFAR test labels")))


def load_cifar10(folder, normalize: bool = True):
    """CIFAR-10 from the "python version" batches ``data_batch_1`` … ``data_batch_5`` and
    ``test_batch`` in ``folder`` (or ``folder/cifar-10-batches-py``, or the original
    ``cifar-10-python.tar.gz`` given as ``folder``), read without unpickling (module docstring).

    Returns ``((x_train, y_train), (x_test, y_test))``: x (N, 32, 32, 3) float32 in [0, 1]
    (``normalize=False``: uint8), y int64 in 0..9 (names in ``CIFAR10_CLASSES``).
    """
    return _load_cifar(folder, [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "cifar-10-batches-py",
                       "labels", 10, normalize)


def load_cifar100(folder, label_mode: str = "fine", normalize: bool = True):
    """CIFAR-100 from its python files ``train`` and ``test`` in ``folder`` (or
    ``folder/cifar-100-python``, or the .tar.gz); ``label_mode`` 'fine' (100 classes) or 'coarse' (20)."""
    if label_mode not in ("fine", "coarse"):
        raise UnknownNameError("CIFAR-100 label_mode", label_mode, ["fine", "coarse"])
    return _load_cifar(folder, ["train"], "test", "cifar-100-python", f"{label_mode}_labels",
                       100 if label_mode == "fine" else 20, normalize)


# ======================================================================================= CSV
_MISSING = ("", "na", "nan", "null", "none", "?")


def _column(values: np.ndarray):
    """A column of strings → (float64 values, None) if numeric (missing → NaN), else (None, None)."""
    stripped = np.char.strip(values)
    missing = np.isin(np.char.lower(stripped), _MISSING)
    try:
        return np.where(missing, "nan", stripped).astype(np.float64)
    except ValueError:
        return None


def load_csv(path, target="label", delimiter: str = ",", header: bool = True, categorical="auto",
             return_info: bool = False):
    """Read a CSV table into ``(X, y)``: X float32 (n_samples, n_features), y one column.

    * ``target``: the label column's name (needs ``header=True``) or index (negative counts from
      the end); ``None`` returns ``(X, None)``.
    * ``categorical``: ``'auto'`` turns every non-numeric column into integer codes (categories in
      sorted order), a list of names/indices forces those columns too, ``False`` refuses text.
      Numeric cells that are empty or ``NA``/``nan``/``null``/``?`` become NaN in X.
    * y: integer codes (int64) for a categorical target; int64 if every value is a whole number
      (class labels); float32 otherwise (regression).
    * ``return_info=True`` adds a dict: ``feature_names``, ``target_name``, ``classes`` (the
      target's categories, code → value, or None) and ``categories`` ({column: categories}).
    The file may be gzip-compressed.
    """
    raw = _read_bytes(path)
    where = f"CSV file {os.fspath(path)!r}"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin1")
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row]
    if header:
        if not rows:
            raise InputError(f"{where} is empty (expected a header line).")
        names, rows = [name.strip() for name in rows[0]], rows[1:]
    else:
        names = [str(i) for i in range(len(rows[0]))] if rows else []
    if not rows:
        raise InputError(f"{where} has no data rows.")
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    width = len(names)
    bad = np.flatnonzero(lengths != width)
    if bad.size:
        line = int(bad[0]) + 1 + int(header)
        raise InputError(f"{where}: line {line} has {lengths[bad[0]]} fields, expected {width} "
                         f"(like {'the header' if header else 'the first line'}). Check the delimiter ({delimiter!r}).")
    table = np.array(rows, dtype=str)

    def index_of(column, what: str) -> int:
        if isinstance(column, (int, np.integer)) and not isinstance(column, bool):
            if not -width <= column < width:
                raise InputError(f"{where}: {what} column index {column} is out of range for {width} columns.")
            return int(column) % width
        if not header:
            raise InputError(f"{where}: {what} column {column!r} is a name, but header=False; give an index.")
        if column not in names:
            raise UnknownNameError(f"{what} column", column, names)
        return names.index(column)

    target_index = None if target is None else index_of(target, "target")
    forced = set() if categorical in ("auto", False, None) else {index_of(c, "categorical") for c in categorical}
    info = {"feature_names": [], "target_name": None if target_index is None else names[target_index],
            "classes": None, "categories": {}}
    features, y = [], None
    for j in range(width):  # a loop over columns, each handled as a whole
        values = None if j in forced else _column(table[:, j])
        if values is None:
            if categorical is False:
                raise InputError(f"{where}: column {names[j]!r} is not numeric (e.g. {table[0, j]!r}) and "
                                 f"categorical=False.")
            categories, values = np.unique(np.char.strip(table[:, j]), return_inverse=True)
            categories = categories.tolist()
            if j == target_index:
                info["classes"] = categories
                y = values.astype(np.int64)
                continue
            info["categories"][names[j]] = categories
        if j == target_index:
            if np.isnan(values).any():
                raise InputError(f"{where}: the target column {names[j]!r} has missing values "
                                 f"(first at data row {int(np.flatnonzero(np.isnan(values))[0]) + 1}).")
            whole = np.all(values == np.round(values))
            y = values.astype(np.int64) if whole else values.astype(backend.floatx())
        else:
            features.append(np.asarray(values, dtype=np.float64))
            info["feature_names"].append(names[j])
    X = (np.stack(features, axis=1) if features else np.empty((len(rows), 0))).astype(backend.floatx())
    return (X, y, info) if return_info else (X, y)


# ======================================================================================= NPZ
@contextlib.contextmanager
def _open_npz(path):
    path = _path(path)
    with open(path, "rb") as f:  # our own handle: closed even when NumPy refuses the file
        try:
            archive = np.load(f, allow_pickle=False)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise FileFormatError(f"{path!r} is not a readable .npz archive ({exc}).") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise FileFormatError(f"{path!r} holds a single .npy array, not a .npz archive of named arrays.")
        with archive:
            yield archive


def _npz_array(archive, key: str, path) -> np.ndarray:
    if key not in archive.files:
        raise InputError(f"{os.fspath(path)!r} has no array {key!r}; it holds {sorted(archive.files)}.")
    try:
        return archive[key]
    except ValueError as exc:  # an object array: would need pickle
        raise FileFormatError(f"{os.fspath(path)!r}: array {key!r} cannot be read without pickle ({exc}); "
                              f"only plain numeric arrays are loaded.") from None


def load_npz(path, x_key: str = "x", y_key: str | None = "y"):
    """``(X, y)`` from a NumPy ``.npz`` archive (``np.savez``), read with ``allow_pickle=False``
    so an archive cannot run code. ``y_key=None`` returns ``(X, None)``."""
    with _open_npz(path) as archive:
        x = _npz_array(archive, x_key, path)
        y = None if y_key is None else _npz_array(archive, y_key, path)
    if y is not None and len(y) != len(x):
        raise InputError(f"{os.fspath(path)!r}: {x_key!r} has {len(x)} samples but {y_key!r} has {len(y)}.")
    return x, y


# ============================================================================ the dispatcher
def _as_images(x: np.ndarray, image_shape=None) -> np.ndarray:
    """Samples → (N, H, W, C) float in [0, 1]: uint8 scaled by 1/255; flat rows reshaped when
    ``image_shape`` is given or their length is a square (one channel)."""
    x = np.asarray(x)
    if image_shape is not None:
        x = x.reshape((len(x), *tuple(image_shape)))
    elif x.ndim == 2:
        side = int(round(np.sqrt(x.shape[1])))
        if side * side == x.shape[1] and side >= 4:
            x = x.reshape(len(x), side, side, 1)
    if x.ndim == 3:
        x = x[..., None]
    if x.dtype == np.uint8:
        return _images(x, True)
    x = x.astype(backend.floatx())
    top = float(np.nanmax(x)) if x.size else 0.0
    if 1.0 < top <= 255.0 and float(np.nanmin(x)) >= 0.0:
        x = x / np.float32(255.0)
    return x


def _split(x, y, test_size, seed):
    from .preprocessing import train_test_split

    stratify = y if y is not None and y.dtype.kind in "iu" and np.bincount(y - y.min()).min(initial=2) >= 2 \
        else None
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, stratify=stratify, seed=seed)
    return (x_train, y_train), (x_test, y_test)


def _cifar_folder(path: str):
    for name, sub in (("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")):
        marker = "test_batch" if name == "cifar10" else "test"
        if os.path.isfile(os.path.join(path, marker)) or os.path.isfile(os.path.join(path, sub, marker)):
            return name
    return None


def load_images(path=None, test_size: float = 0.2, seed: int = 0, image_shape=None, return_info: bool = False):
    """Load an image dataset from ``path``, whatever it is — for tools such as the lab's ``--data PATH``.

    ============================================  ==============================================
    ``path``                                      read with
    ============================================  ==============================================
    ``None``                                      the bundled 8×8 digits (scikit-learn), /16
    folder with the four MNIST IDX files          :func:`load_mnist` ('fashion' in the path →
                                                  Fashion-MNIST class names)
    folder with ``data_batch_*``/``test_batch``   :func:`load_cifar10` (``train``/``test``: CIFAR-100)
    ``cifar-10-python.tar.gz``                    :func:`load_cifar10`
    ``.npz``                                      ``x_train/y_train/x_test/y_test`` as given, or
                                                  ``x``/``y`` split ``test_size`` with ``seed``
    ``.csv`` (target column ``label``, else last)  :func:`load_csv`, then split
    ============================================  ==============================================

    Returns ``((x_train, y_train), (x_test, y_test))`` with x (N, H, W, C) float32 in [0, 1]
    (flat rows of square length, e.g. 784, become (N, s, s, 1); ``image_shape`` forces a shape)
    and y int64. ``return_info=True`` adds ``{"name", "class_names", "source"}``.
    """
    if path is None:
        from .sklearn_data import load_digits

        (x_train, y_train), (x_test, y_test) = load_digits(images=True, return_split=True, test_size=test_size,
                                                           seed=seed)
        result = (x_train / np.float32(16.0), y_train), (x_test / np.float32(16.0), y_test)
        info = {"name": "digits", "class_names": MNIST_CLASSES, "source": None}
        return (*result, info) if return_info else result
    path = _path(path)
    lower = os.path.basename(os.path.normpath(path)).lower()
    class_names = None
    if os.path.isdir(path):
        preferred = ("fashion_mnist", "mnist") if "fashion" in path.lower() else ("mnist", "fashion_mnist")
        mnist_kind = next((k for k in preferred if _find_mnist_folder(path, k) is not None), None)
        if mnist_kind is not None:
            result = load_mnist(path, mnist_kind)
            name = mnist_kind
            class_names = FASHION_MNIST_CLASSES if mnist_kind == "fashion_mnist" else MNIST_CLASSES
        elif _cifar_folder(path) == "cifar10":
            result, name, class_names = load_cifar10(path), "cifar10", CIFAR10_CLASSES
        elif _cifar_folder(path) == "cifar100":
            result, name = load_cifar100(path), "cifar100"
        else:
            raise InputError(f"Cannot tell what dataset the folder {path!r} holds: expected the four MNIST IDX "
                             f"files or the CIFAR python batches. It contains {sorted(os.listdir(path))[:20]}.")
        if image_shape is not None:
            result = tuple((x.reshape((len(x), *image_shape)), y) for x, y in result)
    elif lower.endswith((".tar.gz", ".tgz", ".tar")) and "cifar-100" in lower:
        result, name = load_cifar100(path), "cifar100"
    elif lower.endswith((".tar.gz", ".tgz", ".tar")):
        result, name, class_names = load_cifar10(path), "cifar10", CIFAR10_CLASSES
    elif lower.endswith(".npz"):
        name = "npz"
        with _open_npz(path) as archive:
            keys = set(archive.files)
            if {"x_train", "y_train", "x_test", "y_test"} <= keys:
                parts = [_npz_array(archive, k, path) for k in ("x_train", "y_train", "x_test", "y_test")]
                result = ((_as_images(parts[0], image_shape), parts[1].astype(np.int64)),
                          (_as_images(parts[2], image_shape), parts[3].astype(np.int64)))
            else:
                x, y = load_npz(path)
                result = _split(_as_images(x, image_shape), np.asarray(y).astype(np.int64), test_size, seed)
    elif lower.endswith((".csv", ".csv.gz")):
        name = "csv"
        with open(path, "rb") as f:
            compressed = f.read(2) == _GZIP_MAGIC
        with (gzip.open(path, "rt", encoding="utf-8-sig") if compressed else open(path, encoding="utf-8-sig")) as f:
            first = f.readline()
        columns = [c.strip() for c in next(csv.reader([first]), [])]
        target = "label" if "label" in columns else -1
        x, y, csv_info = load_csv(path, target=target, return_info=True)
        if y is None or y.dtype.kind not in "iu":
            raise InputError(f"{path!r}: the target column {csv_info['target_name']!r} must hold class labels "
                             f"(whole numbers or categories) to be used as an image dataset.")
        class_names = csv_info["classes"]
        result = _split(_as_images(x, image_shape), y, test_size, seed)
    else:
        raise InputError(f"Cannot read {path!r} as an image dataset: expected a folder with MNIST IDX files or "
                         f"CIFAR batches, a CIFAR .tar.gz, a .npz or a .csv.")
    info = {"name": name, "class_names": class_names, "source": path}
    return (*result, info) if return_info else result
