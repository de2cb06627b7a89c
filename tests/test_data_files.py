"""Real data from files: IDX (MNIST), CIFAR python batches (read without unpickling), CSV, npz,
and the load_images dispatcher — on small files written in the real formats."""

import gzip
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest

from glassnet import datasets
from glassnet.datasets import files
from glassnet.errors import FileFormatError, InputError, UnknownNameError


# ========================================================================================= IDX
def write_idx(path, array, compress=False):
    codes = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C,
             np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    raw = bytes([0, 0, codes[big.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + big.tobytes()
    with open(path, "wb") as f:
        f.write(gzip.compress(raw) if compress else raw)
    return raw


def write_mnist(folder, n_train=5, n_test=3, compress=True, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train).astype(np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test).astype(np.uint8)}
    for name, a in arrays.items():
        write_idx(folder / (name + (".gz" if compress else "")), a, compress)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
def test_load_idx_round_trips_every_type(tmp_path, compress, dtype):
    a = (np.arange(24).reshape(2, 3, 4) - 7).astype(dtype)
    write_idx(tmp_path / "a.idx", a, compress)
    out = datasets.load_idx(tmp_path / "a.idx")
    assert out.dtype == np.dtype(dtype).newbyteorder("=") and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, a)
    assert out.flags.writeable


def test_load_idx_refuses_bad_headers_and_sizes(tmp_path):
    good = write_idx(tmp_path / "good", np.arange(12, dtype=np.uint8).reshape(3, 4))
    cases = {
        "short": (good[:3], "needs at least 4"),
        "magic": (b"\x01\x00" + good[2:], "magic number"),
        "type": (good[:2] + b"\x07" + good[3:], "unknown data type code 0x07"),
        "rank0": (b"\x00\x00\x08\x00", "rank 0"),
        "header": (good[:9], "header declares 2 dimensions"),
        "truncated": (good[:-1], "truncated: shape (3, 4) of uint8 needs 12 bytes"),
        "trailing": (good + b"\x00\x00", "2 unexpected bytes"),
    }
    for name, (raw, message) in cases.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(FileFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
            datasets.load_idx(tmp_path / name)
    (tmp_path / "broken.gz").write_bytes(gzip.compress(good)[:-10])
    with pytest.raises(FileFormatError, match="corrupted or truncated gzip"):
        datasets.load_idx(tmp_path / "broken.gz")
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        datasets.load_idx(tmp_path / "nothing-here")


@pytest.mark.parametrize("compress", [True, False])
def test_load_mnist(tmp_path, compress):
    arrays = write_mnist(tmp_path / "mnist", compress=compress)
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist(tmp_path / "mnist")
    assert x_train.shape == (5, 28, 28, 1) and x_train.dtype == np.float32 and x_test.shape == (3, 28, 28, 1)
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    np.testing.assert_allclose(x_train[..., 0] * 255, arrays["train-images-idx3-ubyte"], atol=1e-4)
    assert y_train.dtype == np.int64 and list(y_test) == list(arrays["t10k-labels-idx1-ubyte"])
    (raw_train, _), _ = datasets.load_mnist(tmp_path / "mnist", normalize=False)
    assert raw_train.dtype == np.uint8 and np.array_equal(raw_train[..., 0], arrays["train-images-idx3-ubyte"])


def test_load_mnist_finds_torchvision_layout_and_reports_missing_files(tmp_path):
    arrays = write_mnist(tmp_path / "root" / "FashionMNIST" / "raw")
    _, (x_test, y_test) = datasets.load_mnist(tmp_path / "root", kind="fashion_mnist")
    assert list(y_test) == list(arrays["t10k-labels-idx1-ubyte"])
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        datasets.load_mnist(tmp_path / "root", kind="mnist")
    with pytest.raises(UnknownNameError, match="fashion_mnist"):
        datasets.load_mnist(tmp_path / "root", kind="fashion")
    # images and labels that disagree
    folder = tmp_path / "bad"
    write_mnist(folder, compress=False)
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(FileFormatError, match="should hold 5 labels"):
        datasets.load_mnist(folder)
    write_idx(folder / "train-labels-idx1-ubyte", np.full(5, 12, np.uint8))
    with pytest.raises(FileFormatError, match="labels must be in 0..9"):
        datasets.load_mnist(folder)


# ======================================================================================= CIFAR
def py2_cifar_pickle(data: np.ndarray, labels: list, batch_label=b"training batch 1 of 5") -> bytes:
    """A batch byte for byte as Python 2's cPickle wrote the real CIFAR-10 files (protocol 2,
    str keys as SHORT_BINSTRING, the array through numpy.core.multiarray._reconstruct)."""
    def s(b):  # SHORT_BINSTRING or BINSTRING
        return (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<i", len(b)) + b)

    def i(v):
        return b"K" + bytes([v]) if v < 256 else b"M" + struct.pack("<H", v)

    array = (b"cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02" + i(0) + b"\x85" + s(b"b")
             + b"\x87R(" + i(1) + i(data.shape[0]) + i(data.shape[1]) + b"\x86"
             + b"cnumpy\ndtype\nq\x03" + s(b"u1") + i(0) + i(1) + b"\x87R(" + i(3) + s(b"|")
             + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff" + i(0) + b"tb\x89" + s(data.tobytes()) + b"tb")
    names = b"".join(s(f"img_{k}.png".encode()) for k in range(len(labels)))
    return (b"\x80\x02}q\x00(" + s(b"data") + array + s(b"labels") + b"](" + b"".join(i(v) for v in labels)
            + b"e" + s(b"batch_label") + s(batch_label) + s(b"filenames") + b"](" + names + b"eu.")


def write_cifar(folder, n=4, writer="py2", seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        data, labels = rng.integers(0, 256, (n, 3072), dtype=np.uint8), [int(v) for v in rng.integers(0, 10, n)]
        if writer == "py2":
            raw = py2_cifar_pickle(data, labels)
        else:
            raw = pickle.dumps({b"data": data, b"labels": labels, b"batch_label": b"b", b"filenames": [b"f"] * n},
                               protocol=writer)
        (folder / name).write_bytes(raw)
        batches[name] = (data, labels)
    return batches


def test_the_py2_writer_matches_what_pickle_itself_reads():
    """The hand-written Python 2 stream is a valid pickle of the real layout (checked with the real
    unpickler on data we made ourselves — never on files from elsewhere)."""
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    batch = pickle.loads(py2_cifar_pickle(data, [3, 9]), encoding="bytes")
    assert np.array_equal(batch[b"data"], data) and batch[b"labels"] == [3, 9]
    assert batch[b"filenames"][1] == b"img_1.png"


@pytest.mark.parametrize("writer", ["py2", 2, 4, 5])
def test_load_cifar10(tmp_path, writer):
    batches = write_cifar(tmp_path / "cifar-10-batches-py", writer=writer)
    (x_train, y_train), (x_test, y_test) = datasets.load_cifar10(tmp_path)  # finds the sub-folder
    assert x_train.shape == (20, 32, 32, 3) and x_train.dtype == np.float32 and x_test.shape == (4, 32, 32, 3)
    assert y_train.dtype == np.int64 and list(y_train[:4]) == batches["data_batch_1"][1]
    data = batches["test_batch"][0]
    # row layout: 1024 red, 1024 green, 1024 blue values, each 32×32 row-major
    assert x_test[1, 2, 3, 0] == pytest.approx(data[1, 2 * 32 + 3] / 255)
    assert x_test[1, 2, 3, 2] == pytest.approx(data[1, 2048 + 2 * 32 + 3] / 255)
    (raw, _), _ = datasets.load_cifar10(tmp_path / "cifar-10-batches-py", normalize=False)
    assert raw.dtype == np.uint8 and np.array_equal(raw[:4].transpose(0, 3, 1, 2).reshape(4, 3072),
                                                    batches["data_batch_1"][0])


def test_load_cifar10_from_the_tar_archive(tmp_path):
    batches = write_cifar(tmp_path / "cifar-10-batches-py")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    _, (x_test, y_test) = datasets.load_cifar10(archive, normalize=False)
    assert list(y_test) == batches["test_batch"][1]


class _Evil:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


def test_a_malicious_batch_is_refused_and_runs_nothing(tmp_path):
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Evil(proof)))  # a naive unpickler does run it...
    assert proof.exists()

    marker = tmp_path / "pwned"
    folder = tmp_path / "cifar"
    write_cifar(folder)
    for protocol in (0, 2, 4):
        payload = {b"data": _Evil(marker), b"labels": [0]}
        (folder / "data_batch_3").write_bytes(pickle.dumps(payload, protocol=protocol))
        with pytest.raises(FileFormatError, match="refusing to load: the pickle refers to '(posix|os|nt).system'"):
            datasets.load_cifar10(folder)
        assert not marker.exists()  # ...this reader does not


def test_the_pickle_reader_refuses_everything_but_plain_data_and_numeric_arrays(tmp_path):
    reader = datasets.read_pickled_arrays
    # an allowed name used to call something else: _reconstruct(os.system, ...)
    sneaky = b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncos\nsystem\n"
    with pytest.raises(FileFormatError, match="'os.system'"):
        reader(sneaky + b"U\x02id\x85R.")
    with pytest.raises(FileFormatError, match="may only build a numpy.ndarray"):
        reader(b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\ndtype\nK\x00\x85U\x01b\x87R.")
    # object arrays need pickle to rebuild their items
    with pytest.raises(FileFormatError, match="dtype 'O"):
        reader(pickle.dumps(np.array([1, "a"], dtype=object), protocol=2))
    # opcodes that build arbitrary objects (NEWOBJ from a protocol-4 class instance), builtins.eval
    with pytest.raises(FileFormatError, match="refus"):
        reader(pickle.dumps(UnknownNameError("x", "y", ["z"]), protocol=4))
    with pytest.raises(FileFormatError, match="'builtins.eval'"):
        reader(b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85R.")
    # truncated / empty / not a pickle
    good = pickle.dumps({b"data": np.zeros((2, 3), np.uint8), b"labels": [1, 2]}, protocol=2)
    with pytest.raises(FileFormatError, match="truncated"):
        reader(good[: len(good) // 2])
    with pytest.raises(FileFormatError, match="empty"):
        reader(b"")
    with pytest.raises(FileFormatError):
        reader(b"hello world")
    # data it does read: a big-endian Fortran-ordered float array, nested containers, Python 2 strings
    x = np.asfortranarray(np.arange(6, dtype=">f8").reshape(2, 3))
    out = reader(pickle.dumps({"x": x, "t": (1, 2.5, None, "é", 10 ** 30), "l": [b"a", [True]]}, protocol=2))
    assert np.array_equal(out["x"], x) and out["x"].dtype == np.float64
    assert out["t"] == (1, 2.5, None, "é", 10 ** 30) and out["l"] == [b"a", [True]]


def test_cifar_batch_with_the_wrong_layout_is_refused(tmp_path):
    folder = tmp_path / "cifar"
    write_cifar(folder)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(FileFormatError, match=r"uint8 of shape \(N, 3072\)"):
        datasets.load_cifar10(folder)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}))
    with pytest.raises(FileFormatError, match="should be 2 integer labels"):
        datasets.load_cifar10(folder)
    os.remove(folder / "data_batch_5")
    with pytest.raises(FileNotFoundError, match="data_batch_5"):
        datasets.load_cifar10(folder)


# ========================================================================================= CSV
def test_load_csv_with_header_and_categorical_target(tmp_path):
    path = tmp_path / "flowers.csv"
    path.write_text("length,colour,width,species\n"
                    "1.5,red,0.2,setosa\n"
                    "4.7,blue,1.4,versicolor\n"
                    ",red,2.5,virginica\n"
                    "5.0,green,NA,setosa\n")
    X, y, info = datasets.load_csv(path, target="species", return_info=True)
    assert X.dtype == np.float32 and X.shape == (4, 3) and y.dtype == np.int64
    assert info["classes"] == ["setosa", "versicolor", "virginica"] and list(y) == [0, 1, 2, 0]
    assert info["feature_names"] == ["length", "colour", "width"]
    assert info["categories"] == {"colour": ["blue", "green", "red"]} and list(X[:, 1]) == [2, 0, 2, 1]
    assert np.isnan(X[2, 0]) and np.isnan(X[3, 2]) and X[1, 0] == np.float32(4.7)
    # numeric targets: whole numbers → int64 labels, otherwise float32
    (tmp_path / "n.csv").write_text("a;label\n1;0\n2;1\n3;1\n")
    X, y = datasets.load_csv(tmp_path / "n.csv", delimiter=";")
    assert y.dtype == np.int64 and list(y) == [0, 1, 1] and X[:, 0].tolist() == [1, 2, 3]
    (tmp_path / "r.csv").write_text("0.5,3.25\n1.5,7.5\n")
    X, y = datasets.load_csv(tmp_path / "r.csv", target=-1, header=False)
    assert y.dtype == np.float32 and y.tolist() == [3.25, 7.5] and X.shape == (2, 1)


def test_load_csv_errors(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n1,2,0\n3,4\n")
    with pytest.raises(InputError, match="line 3 has 2 fields, expected 3"):
        datasets.load_csv(path)
    path.write_text("a,b,label\n1,2,0\n3,4,1\n")
    with pytest.raises(UnknownNameError, match="labl"):
        datasets.load_csv(path, target="labl")
    with pytest.raises(InputError, match="header=False"):
        datasets.load_csv(path, target="label", header=False)
    path.write_text("a,label\nx,0\n")
    with pytest.raises(InputError, match="not numeric"):
        datasets.load_csv(path, categorical=False)
    path.write_text("a,label\n1,\n")
    with pytest.raises(InputError, match="missing values"):
        datasets.load_csv(path)


# ========================================================================================= NPZ
def test_load_npz(tmp_path):
    x, y = np.arange(12, dtype=np.float32).reshape(4, 3), np.array([0, 1, 0, 1])
    np.savez(tmp_path / "d.npz", x=x, y=y, features=x * 2)
    X, Y = datasets.load_npz(tmp_path / "d.npz")
    assert np.array_equal(X, x) and np.array_equal(Y, y)
    X, Y = datasets.load_npz(tmp_path / "d.npz", x_key="features", y_key=None)
    assert np.array_equal(X, 2 * x) and Y is None
    with pytest.raises(InputError, match="no array 'labels'.*'features', 'x', 'y'"):
        datasets.load_npz(tmp_path / "d.npz", y_key="labels")
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object), y=y[:1])
    with pytest.raises(FileFormatError, match="without pickle"):
        datasets.load_npz(tmp_path / "obj.npz")
    np.save(tmp_path / "single.npy", x)
    with pytest.raises(FileFormatError, match="single .npy array"):
        datasets.load_npz(tmp_path / "single.npy")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(FileFormatError, match="not a readable .npz"):
        datasets.load_npz(tmp_path / "bad.npz")


# ================================================================================== load_images
def test_load_images_dispatches_on_what_the_path_holds(tmp_path):
    write_mnist(tmp_path / "fashion", n_train=6, n_test=2)
    (x_train, y_train), (x_test, _), info = datasets.load_images(tmp_path / "fashion", return_info=True)
    assert x_train.shape == (6, 28, 28, 1) and x_test.shape == (2, 28, 28, 1)
    assert info["name"] == "fashion_mnist" and info["class_names"][9] == "Ankle boot"

    write_cifar(tmp_path / "c10")
    (x_train, _), _, info = datasets.load_images(tmp_path / "c10", return_info=True)
    assert x_train.shape == (20, 32, 32, 3) and info["name"] == "cifar10" and info["class_names"][0] == "airplane"

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "k.npz", x_train=rng.integers(0, 256, (5, 6, 6), dtype=np.uint8), y_train=np.arange(5),
             x_test=rng.integers(0, 256, (2, 6, 6), dtype=np.uint8), y_test=np.arange(2))
    (x_train, y_train), (x_test, y_test) = datasets.load_images(tmp_path / "k.npz")
    assert x_train.shape == (5, 6, 6, 1) and x_train.dtype == np.float32 and x_train.max() <= 1.0
    assert y_test.dtype == np.int64

    pixels = rng.integers(0, 256, (10, 16))
    labels = np.arange(10) % 2
    lines = ["label," + ",".join(f"p{k}" for k in range(16))]
    lines += [f"{label}," + ",".join(map(str, row)) for label, row in zip(labels, pixels)]
    (tmp_path / "img.csv").write_text("\n".join(lines) + "\n")
    (x_train, y_train), (x_test, y_test) = datasets.load_images(tmp_path / "img.csv", test_size=0.2, seed=0)
    assert x_train.shape == (8, 4, 4, 1) and x_test.shape == (2, 4, 4, 1) and 0 <= x_train.min() <= x_train.max() <= 1
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == sorted(labels.tolist())

    with pytest.raises(InputError, match="Cannot tell what dataset"):
        datasets.load_images(tmp_path / "c10" / "..")  # a folder with neither layout at its top
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(InputError, match="Cannot read"):
        datasets.load_images(tmp_path / "x.txt")


def test_load_images_without_a_path_gives_the_bundled_digits():
    pytest.importorskip("sklearn")
    (x_train, y_train), (x_test, y_test), info = datasets.load_images(None, return_info=True)
    assert x_train.shape[1:] == (8, 8, 1) and x_train.dtype == np.float32 and x_train.max() == 1.0
    assert len(x_train) + len(x_test) == 1797 and info["name"] == "digits"


def test_readers_are_exported():
    for name in ("load_idx", "load_mnist", "load_cifar10", "load_csv", "load_npz", "load_images"):
        assert getattr(datasets, name) is getattr(files, name) and name in datasets.__all__
