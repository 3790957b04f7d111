"""Readers, bundled sources, MNIST-M and domain specs, on files written here in each real format.

Every bad input must fail as DataError/ConfigError with a message naming the file at fault; the
real files in ../shared/data are checked against their published counts when present.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
import re
import struct
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from PIL import Image

from gantl.data.bundled import read_mnist5k, read_uci_digits
from gantl.data.domain import DIGIT_CLASSES, RawDomain
from gantl.data.readers import (
    read_folder,
    read_list,
    read_mnist,
    read_npz,
    read_svhn,
    read_usps,
)
from gantl.data.specs import SPEC_KINDS, load_domain, parse_spec, resolve_path
from gantl.data.synthetic import PHOTO_NAMES, _photos, make_mnistm
from gantl.errors import ConfigError, DataError

# ----------------------------------------------------------------------------- file writers


def write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> Path:
    """Write `array` (uint8) as an IDX file, gzipped when `path` ends in .gz."""
    magic = 0x00000800 | array.ndim if magic is None else magic
    payload = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as fh:
        fh.write(payload)
    return path


def digits(n: int, h: int = 28, w: int = 28, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, h, w), dtype=np.uint8)
    return images, np.arange(n, dtype=np.uint8) % 10


def write_mnist(
    root: Path, prefix: str, n: int, gz: bool = True, dotted: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    images, labels = digits(n, seed=n)
    suffix = ".gz" if gz else ""
    sep = "." if dotted else "-"
    write_idx(root / f"{prefix}-images{sep}idx3-ubyte{suffix}", images)
    write_idx(root / f"{prefix}-labels{sep}idx1-ubyte{suffix}", labels)
    return images, labels


def write_usps_text(path: Path, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = rng.uniform(-1, 1, size=(n, 256)).round(4)
    values[:, 0], values[:, 1] = -1.0, 1.0
    labels = np.arange(n) % 10
    lines = [
        f"{lab:.4f} " + " ".join(f"{v:.4f}" for v in row) + " "
        for lab, row in zip(labels, values, strict=True)
    ]
    data = ("\n".join(lines) + "\n").encode()
    opener = {".gz": gzip.open, ".bz2": bz2.open}.get(path.suffix, open)
    with opener(path, "wb") as fh:
        fh.write(data)
    return values, labels


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def gray(value: int, h: int = 8, w: int = 8) -> np.ndarray:
    return np.full((h, w), value, dtype=np.uint8)


# ----------------------------------------------------------------------------- MNIST


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_train_and_test(tmp_path: Path, gz: bool) -> None:
    train_x, train_y = write_mnist(tmp_path, "train", 30, gz=gz)
    test_x, test_y = write_mnist(tmp_path, "t10k", 20, gz=gz)
    domain = read_mnist(tmp_path)
    assert domain.name == "mnist"
    assert set(domain.splits) == {"train", "test"}
    assert domain.shape == (28, 28, 1)
    np.testing.assert_array_equal(domain.splits["train"].images[..., 0], train_x)
    np.testing.assert_array_equal(domain.splits["test"].labels, test_y)
    assert domain.splits["test"].origins[3] == f"t10k-images-idx3-ubyte{'.gz' if gz else ''}#3"
    assert len(domain.raw_files) == 4 and all(p.is_file() for p in domain.raw_files)
    assert domain.notes == ()
    assert domain.splits["train"].images.dtype == np.uint8
    assert domain.splits["train"].labels.dtype == np.int64
    del train_y, test_x


def test_mnist_dotted_names_and_only_test_adds_note(tmp_path: Path) -> None:
    write_mnist(tmp_path, "t10k", 12, gz=False, dotted=True)
    domain = read_mnist(tmp_path)
    assert set(domain.splits) == {"test"}
    assert len(domain.splits["test"]) == 12
    assert any("no train files" in note for note in domain.notes)


def test_mnist_empty_dir_lists_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"train-images\[-\.\]idx3-ubyte") as err:
        read_mnist(tmp_path)
    assert str(tmp_path) in str(err.value)
    assert "t10k-labels[-.]idx1-ubyte[.gz]" in str(err.value)


def test_mnist_bad_magic(tmp_path: Path) -> None:
    write_mnist(tmp_path, "t10k", 5)
    bad = tmp_path / "t10k-images-idx3-ubyte.gz"
    write_idx(bad, digits(5)[0], magic=0x00000801 << 8)
    with pytest.raises(
        DataError, match=r"not an IDX image file \(magic 0x00080100, expected 0x00000803\)"
    ) as err:
        read_mnist(tmp_path)
    assert str(bad) in str(err.value)


def test_mnist_labels_file_with_image_magic(tmp_path: Path) -> None:
    write_mnist(tmp_path, "t10k", 5, gz=False)
    bad = tmp_path / "t10k-labels-idx1-ubyte"
    write_idx(bad, digits(5)[0])  # an image file where labels belong
    with pytest.raises(DataError, match="not an IDX label file") as err:
        read_mnist(tmp_path)
    assert str(bad) in str(err.value)


def test_mnist_truncated(tmp_path: Path) -> None:
    write_mnist(tmp_path, "t10k", 5, gz=False)
    bad = tmp_path / "t10k-images-idx3-ubyte"
    bad.write_bytes(bad.read_bytes()[:-100])
    with pytest.raises(
        DataError, match="truncated: header promises 3920 bytes of data, file holds 3820"
    ) as err:
        read_mnist(tmp_path)
    assert str(bad) in str(err.value)


def test_mnist_truncated_gzip_stream(tmp_path: Path) -> None:
    write_mnist(tmp_path, "t10k", 50)
    bad = tmp_path / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(DataError) as err:
        read_mnist(tmp_path)
    assert str(bad) in str(err.value)


def test_mnist_count_mismatch(tmp_path: Path) -> None:
    write_mnist(tmp_path, "t10k", 6)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(DataError, match="6 images but 5 labels") as err:
        read_mnist(tmp_path)
    assert "t10k-images-idx3-ubyte.gz" in str(err.value)


def test_mnist_label_out_of_range(tmp_path: Path) -> None:
    write_mnist(tmp_path, "t10k", 6)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 12, 3, 4], np.uint8))
    with pytest.raises(DataError, match=r"label 12 at row 3 is outside 0\.\.9") as err:
        read_mnist(tmp_path)
    assert "t10k-images-idx3-ubyte.gz" in str(err.value)


def test_mnist_images_without_labels(tmp_path: Path) -> None:
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", digits(3)[0])
    with pytest.raises(DataError, match="without its pair") as err:
        read_mnist(tmp_path)
    assert "train-images-idx3-ubyte.gz" in str(err.value)


# ----------------------------------------------------------------------------- USPS


def write_usps_h5(path: Path, n_train: int = 15, n_test: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    arrays = {}
    with h5py.File(path, "w") as fh:
        for split, n in (("train", n_train), ("test", n_test)):
            data = rng.random((n, 256), dtype=np.float32)
            g = fh.create_group(split)
            g.create_dataset("data", data=data)
            g.create_dataset("target", data=(np.arange(n) % 10).astype(np.int32))
            arrays[split] = data
    return arrays


def test_usps_h5_file_and_dir(tmp_path: Path) -> None:
    arrays = write_usps_h5(tmp_path / "usps.h5")
    for path in (tmp_path / "usps.h5", tmp_path):
        domain = read_usps(path)
        assert domain.name == "usps"
        assert domain.shape == (16, 16, 1)
        assert {k: len(v) for k, v in domain.splits.items()} == {"train": 15, "test": 7}
        expected = np.rint(arrays["train"] * 255).astype(np.uint8).reshape(-1, 16, 16)
        np.testing.assert_array_equal(domain.splits["train"].images[..., 0], expected)
        assert domain.raw_files == (tmp_path / "usps.h5",)
        assert domain.splits["test"].origins[2] == "usps.h5#test/2"


def test_usps_h5_without_expected_groups(tmp_path: Path) -> None:
    bad = tmp_path / "usps.h5"
    with h5py.File(bad, "w") as fh:
        fh.create_group("images").create_dataset("x", data=np.zeros((2, 256)))
        fh.create_dataset("labels", data=np.zeros(2))
    with pytest.raises(DataError, match=r"has groups \['images', 'labels'\], expected") as err:
        read_usps(bad)
    assert str(bad) in str(err.value) and "'train'" in str(err.value)


def test_usps_h5_group_without_datasets(tmp_path: Path) -> None:
    bad = tmp_path / "usps.h5"
    with h5py.File(bad, "w") as fh:
        fh.create_group("train").create_dataset("X", data=np.zeros((2, 256)))
    with pytest.raises(DataError, match="'data'") as err:
        read_usps(tmp_path)
    assert str(bad) in str(err.value) and "['X']" in str(err.value)


@pytest.mark.parametrize("suffix", ["", ".gz", ".bz2"])
def test_usps_text_picks_up_test_sibling(tmp_path: Path, suffix: str) -> None:
    values, labels = write_usps_text(tmp_path / f"zip.train{suffix}", 12)
    write_usps_text(tmp_path / f"zip.test{suffix}", 5, seed=3)
    domain = read_usps(tmp_path / f"zip.train{suffix}")
    assert {k: len(v) for k, v in domain.splits.items()} == {"train": 12, "test": 5}
    assert domain.shape == (16, 16, 1)
    expected = np.rint((values + 1) / 2 * 255).astype(np.uint8).reshape(-1, 16, 16)
    np.testing.assert_array_equal(domain.splits["train"].images[..., 0], expected)
    assert domain.splits["train"].images[0, 0, 0, 0] == 0
    assert domain.splits["train"].images[0, 0, 1, 0] == 255
    np.testing.assert_array_equal(domain.splits["train"].labels, labels)
    assert len(domain.raw_files) == 2
    assert read_usps(tmp_path).splits["test"].labels.tolist() == [0, 1, 2, 3, 4]


def test_usps_text_bad_row(tmp_path: Path) -> None:
    bad = tmp_path / "zip.train"
    bad.write_text("1 " + " ".join(["0.5"] * 256) + "\n2 0.5 0.5\n")
    with pytest.raises(DataError) as err:
        read_usps(bad)
    assert str(bad) in str(err.value)


def test_usps_text_values_out_of_range(tmp_path: Path) -> None:
    bad = tmp_path / "zip.test"
    bad.write_text("1 " + " ".join(["3"] * 256) + "\n")
    with pytest.raises(DataError, match=r"\[-1, 1\]") as err:
        read_usps(tmp_path)
    assert str(bad) in str(err.value)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_usps_h5_nonfinite_pixels_name_file_and_row(tmp_path: Path, bad_value: float) -> None:
    path = tmp_path / "usps.h5"
    data = np.random.default_rng(0).random((9, 256), dtype=np.float32)
    data[6, 100] = bad_value  # NaN compared as in range, and would have become pixel 0
    with h5py.File(path, "w") as fh:
        g = fh.create_group("train")
        g.create_dataset("data", data=data)
        g.create_dataset("target", data=np.arange(9) % 10)
    with pytest.raises(DataError) as err:
        read_usps(path)
    assert str(err.value) == (
        f"{path}: 'train/data' row 6 has NaN or infinite pixels (expected finite values)"
    )


def test_usps_text_nan_pixels_name_file_and_row(tmp_path: Path) -> None:
    bad = tmp_path / "zip.train"
    rows = ["1 " + " ".join(["0.5"] * 256)] * 3
    rows[2] = "2 " + " ".join(["0.5"] * 255 + ["nan"])  # np.loadtxt reads it as a float
    bad.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError) as err:
        read_usps(bad)
    assert str(err.value) == f"{bad}: row 2 has NaN or infinite pixels (expected finite values)"


def test_usps_nothing_found(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"usps\.h5") as err:
        read_usps(tmp_path)
    assert str(tmp_path) in str(err.value)


# ----------------------------------------------------------------------------- SVHN


def test_svhn_mat(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(32, 32, 3, 11), dtype=np.uint8)
    y = (np.arange(11) % 10 + 1).reshape(-1, 1).astype(np.uint8)  # 1..10
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": x, "y": y})
    domain = read_svhn(tmp_path)
    assert domain.name == "svhn" and set(domain.splits) == {"test"}
    assert domain.shape == (32, 32, 3)
    np.testing.assert_array_equal(domain.splits["test"].images[4], x[..., 4])
    assert domain.splits["test"].labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_svhn_missing_keys(tmp_path: Path) -> None:
    bad = tmp_path / "train_32x32.mat"
    scipy.io.savemat(bad, {"images": np.zeros((32, 32, 3, 2), np.uint8)})
    with pytest.raises(DataError, match=r"has variables \['images'\]") as err:
        read_svhn(tmp_path)
    assert str(bad) in str(err.value)


def test_svhn_label_outside_1_to_10(tmp_path: Path) -> None:
    bad = tmp_path / "train_32x32.mat"
    scipy.io.savemat(bad, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[1], [11]])})
    with pytest.raises(DataError, match=r"1\.\.10") as err:
        read_svhn(tmp_path)
    assert str(bad) in str(err.value)


def test_svhn_float_nan_pixels_name_file_and_row(tmp_path: Path) -> None:
    x = np.full((32, 32, 3, 4), 0.5)
    x[3, 4, 1, 2] = np.nan
    bad = tmp_path / "train_32x32.mat"
    scipy.io.savemat(bad, {"X": x, "y": np.array([[1], [2], [3], [4]])})
    with pytest.raises(DataError) as err:
        read_svhn(tmp_path)
    assert str(err.value) == f"{bad}: 'X' row 2 has NaN or infinite pixels (expected finite values)"


# ----------------------------------------------------------------------------- image folders


def test_folder_single_split_grayscale(tmp_path: Path) -> None:
    root = tmp_path / "mydigits"
    for cls, value in (("a", 10), ("b", 20)):
        for i in range(3):
            write_png(root / cls / f"{i}.png", gray(value + i))
    domain = read_folder(root)
    assert domain.name == "mydigits"
    assert domain.class_names == ("a", "b")
    assert set(domain.splits) == {"train"}
    assert domain.shape == (8, 8, 1)
    split = domain.splits["train"]
    assert split.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert split.images[4, 0, 0, 0] == 21
    assert split.origins[0] == "a/0.png"
    assert len(domain.raw_files) == 6
    assert domain.notes == ()


def test_folder_train_test_rgb_and_mixed_sizes(tmp_path: Path) -> None:
    root = tmp_path / "dom"
    write_png(root / "train" / "0" / "a.png", gray(50, 8, 8))
    write_png(root / "train" / "1" / "b.png", np.full((12, 10, 3), (255, 0, 0), np.uint8))
    write_png(root / "test" / "1" / "c.png", gray(70, 4, 4))
    domain = read_folder(root)
    assert set(domain.splits) == {"train", "test"}
    assert domain.class_names == ("0", "1")
    assert domain.shape == (8, 8, 3)
    assert domain.splits["test"].labels.tolist() == [1]
    assert domain.splits["train"].images[1, 3, 3].tolist() == [255, 0, 0]
    assert domain.splits["train"].images[0, 0, 0].tolist() == [50, 50, 50]
    assert any("resized 2 of 3" in note for note in domain.notes)
    assert domain.splits["test"].origins[0] == "test/1/c.png"


# ----------------------------------------------------------------------------- image lists


def _tllib_layout(root: Path) -> Path:
    """TLlib's layout: <root>/image_list/dom.txt naming <root>/dom/images/<class>/<file>."""
    for cls, value in (("cup", 10), ("pen", 20)):
        for i in range(2):
            write_png(root / "dom" / "images" / cls / f"{i}.png", gray(value + i))
    listing = root / "image_list" / "dom.txt"
    listing.parent.mkdir(parents=True)
    lines = [f"dom/images/{c}/{i}.png {k}" for k, c in enumerate(("cup", "pen")) for i in range(2)]
    listing.write_text("# a comment\n" + "\n".join(lines[::-1]) + "\n\n")
    return listing


def test_an_image_list_in_tllibs_layout_reads_paths_one_folder_up(tmp_path: Path) -> None:
    listing = _tllib_layout(tmp_path)
    domain = read_list(listing)
    assert domain.name == "dom" and domain.spec == f"list:{listing}"
    assert domain.class_names == ("0", "1")
    split = domain.splits["train"]
    assert split.labels.tolist() == [1, 1, 0, 0]  # the list's order
    assert split.images[:, 0, 0, 0].tolist() == [21, 20, 11, 10]
    assert domain.raw_files[0] == listing and len(domain.raw_files) == 5
    assert load_domain(f"list:{listing}").shape == (8, 8, 1)


def test_an_image_list_beside_its_images(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", gray(5))
    (tmp_path / "list.txt").write_text("a.png 2\n")
    domain = read_list(tmp_path / "list.txt")
    assert domain.class_names == ("0", "1", "2") and domain.splits["train"].origins[0] == "a.png"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a.png cat\n", "list.txt:1: expected '<image path> <integer label>', got 'a.png cat'"),
        ("a.png 0\nmissing.png 1\n", "list.txt:2: no image missing.png beside the list"),
        ("# only a comment\n", "list.txt: the image list names no images"),
    ],
)
def test_a_bad_image_list_names_the_file_and_line(tmp_path: Path, text, message) -> None:
    write_png(tmp_path / "a.png", gray(5))
    (tmp_path / "list.txt").write_text(text)
    with pytest.raises(DataError, match=re.escape(message)):
        read_list(tmp_path / "list.txt")


def test_folder_rgb_files_with_gray_content_are_one_channel(tmp_path: Path) -> None:
    root = tmp_path / "dom"
    write_png(root / "x" / "a.png", np.full((5, 5, 3), 99, np.uint8))
    write_png(root / "y" / "b.png", gray(3, 5, 5))
    assert read_folder(root).shape == (5, 5, 1)


def test_folder_test_class_not_in_train(tmp_path: Path) -> None:
    root = tmp_path / "dom"
    write_png(root / "train" / "0" / "a.png", gray(1))
    write_png(root / "test" / "7" / "a.png", gray(1))
    with pytest.raises(DataError, match=r"\['7'\]") as err:
        read_folder(root)
    assert str(root / "test") in str(err.value)


def test_folder_empty(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(DataError, match="no class sub-folders") as err:
        read_folder(root)
    assert str(root) in str(err.value)


def test_folder_class_without_images(tmp_path: Path) -> None:
    root = tmp_path / "dom"
    write_png(root / "0" / "a.png", gray(1))
    (root / "1").mkdir()
    (root / "1" / "readme.txt").write_text("not an image")
    with pytest.raises(DataError, match="holds no images") as err:
        read_folder(root)
    assert str(root / "1") in str(err.value)


def test_folder_unreadable_image(tmp_path: Path) -> None:
    root = tmp_path / "dom"
    bad = root / "0" / "a.png"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a png")
    with pytest.raises(DataError) as err:
        read_folder(root)
    assert str(bad) in str(err.value)


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose IHDR claims width × height (CRC fixed): nothing that large is stored."""
    buffer = io.BytesIO()
    Image.fromarray(gray(0)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (40000, 40000),  # past twice PIL's limit: PIL raises DecompressionBombError
        (10000, 10000),  # past the limit only: PIL would warn, then decode 100 M pixels
    ],
)
def test_folder_decompression_bomb_names_file_and_size(
    tmp_path: Path, width: int, height: int
) -> None:
    root = tmp_path / "photos"
    write_png(root / "a" / "fine.png", gray(10))
    big = png_claiming(root / "a" / "big.png", width, height)
    with pytest.raises(DataError) as err:
        read_folder(root)
    assert str(err.value) == (
        f"{big}: image of {width}×{height} pixels exceeds the {Image.MAX_IMAGE_PIXELS}-pixel "
        "limit (a decompression bomb?)"
    )


def test_folder_truncated_png_names_file(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    bad = png_claiming(root / "a" / "cut.png", 100, 100)  # header fine, pixel data too short
    with pytest.raises(DataError) as err:
        read_folder(root)
    assert str(err.value).startswith(f"{bad}: not a readable image: ")


# ----------------------------------------------------------------------------- NPZ


def test_npz_labelled_nhwc(tmp_path: Path) -> None:
    x, y = digits(9, 10, 10)
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=x, y_train=y, x_test=x[:4], y_test=y[:4])
    domain = read_npz(path)
    assert domain.name == "mine" and domain.spec == f"npz:{path}"
    assert domain.shape == (10, 10, 1)
    assert domain.class_names == DIGIT_CLASSES
    np.testing.assert_array_equal(domain.splits["test"].labels, y[:4])
    assert domain.raw_files == (path,)


def test_npz_unlabelled_nchw_with_class_names(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((6, 3, 7, 9))  # floats in [0, 1], channels first
    path = tmp_path / "target.npz"
    np.savez(path, x_train=x, class_names=np.array(["cat", "dog"]))
    domain = read_npz(path)
    assert domain.shape == (7, 9, 3)
    assert domain.splits["train"].labels is None
    assert domain.class_names == ("cat", "dog")
    np.testing.assert_array_equal(
        domain.splits["train"].images[2, :, :, 1], np.rint(x[2, 1] * 255).astype(np.uint8)
    )


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_npz_nonfinite_pixels_name_file_and_row(tmp_path: Path, bad_value: float) -> None:
    x = np.random.default_rng(0).random((20, 3, 6, 6)).astype(np.float32)  # channels first
    x[17, 2, 5, 5] = bad_value
    path = tmp_path / "x.npz"
    np.savez(path, x_train=x[:10], x_test=x)
    with pytest.raises(DataError) as err:
        read_npz(path)
    assert str(err.value) == (
        f"{path}: 'x_test' row 17 has NaN or infinite pixels (expected finite values)"
    )


def test_npz_without_images(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, images=np.zeros((2, 4, 4)), y_train=np.zeros(2))
    with pytest.raises(DataError, match=r"has arrays \['images', 'y_train'\]") as err:
        read_npz(path)
    assert str(path) in str(err.value)


def test_npz_label_outside_class_list(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, x_test=np.zeros((3, 4, 4), np.uint8), y_test=[0, 1, 2], class_names=["a", "b"])
    with pytest.raises(DataError, match="label 2 at row 2") as err:
        read_npz(path)
    assert str(path) in str(err.value)


def test_npz_splits_of_different_shapes(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, x_train=np.zeros((3, 4, 4), np.uint8), x_test=np.zeros((3, 5, 5), np.uint8))
    with pytest.raises(DataError, match="differ in image shape") as err:
        read_npz(path)
    assert str(path) in str(err.value)


# ----------------------------------------------------------------------------- bundled


def test_mnist5k_counts_shuffle_and_determinism() -> None:
    domain = read_mnist5k(seed=0)
    train, test = domain.splits["train"], domain.splits["test"]
    assert (len(train), len(test)) == (4000, 1000)
    assert domain.shape == (28, 28, 1) and domain.name == "mnist5k"
    assert not (np.diff(train.labels) >= 0).all()  # shuffled, not sorted by label
    counts = np.bincount(test.labels, minlength=10)
    assert counts.min() >= 60 and counts.max() <= 140
    assert np.bincount(np.concatenate([train.labels, test.labels])).tolist() == [500] * 10
    again = read_mnist5k(seed=0)
    np.testing.assert_array_equal(again.splits["test"].images, test.images)
    other = read_mnist5k(seed=1)
    assert not np.array_equal(other.splits["test"].labels, test.labels)
    # origins keep the original row: rows are sorted by label, 500 per digit
    rows = np.array([int(o.split("#")[1]) for o in train.origins])
    np.testing.assert_array_equal(rows // 500, train.labels)
    assert domain.raw_files[0].name == "mnist_5k.csv.gz" and domain.raw_files[0].is_file()


def test_uci_digits() -> None:
    domain = read_uci_digits(seed=3)
    train, test = domain.splits["train"], domain.splits["test"]
    assert len(train) + len(test) == 1797 and len(train) == 1438
    assert domain.shape == (8, 8, 1) and domain.name == "uci-digits"
    assert train.images.max() == 255
    assert set(np.unique(test.labels)) == set(range(10))
    np.testing.assert_array_equal(read_uci_digits(seed=3).splits["train"].labels, train.labels)
    assert domain.raw_files[0].name == "digits.csv.gz" and domain.raw_files[0].is_file()


# ----------------------------------------------------------------------------- MNIST-M


def small_base(n: int = 40) -> RawDomain:
    from gantl.data.domain import make_split

    images, labels = digits(n)
    images[:, :14] = 0  # top half off everywhere
    return RawDomain(
        name="tiny",
        spec="npz:tiny.npz",
        splits={"train": make_split(images, labels, "tiny.npz")},
        raw_files=(Path("tiny.npz"),),
        notes=("base note",),
    )


def test_mnistm_shape_labels_and_determinism() -> None:
    base = small_base()
    a, b, c = make_mnistm(base, seed=0), make_mnistm(base, seed=0), make_mnistm(base, seed=1)
    assert a.name == "mnistm" and a.shape == (28, 28, 3)
    assert a.splits["train"].images.dtype == np.uint8
    np.testing.assert_array_equal(a.splits["train"].images, b.splits["train"].images)
    assert not np.array_equal(a.splits["train"].images, c.splits["train"].images)
    np.testing.assert_array_equal(a.splits["train"].labels, base.splits["train"].labels)
    assert a.class_names == base.class_names
    assert a.notes[0] == "base note" and "Ganin" in a.notes[1]
    assert a.raw_files[0] == Path("tiny.npz") and len(a.raw_files) == 1 + len(PHOTO_NAMES)


def test_mnistm_pixels_are_photo_crop_where_digit_is_off() -> None:
    base = small_base()
    domain = make_mnistm(base, seed=5)
    photos = dict(zip(PHOTO_NAMES, _photos(), strict=True))
    for i, origin in enumerate(domain.splits["train"].origins[:10]):
        base_origin, pointer = origin.split("|")
        assert base_origin == base.splits["train"].origins[i]
        name, offsets = pointer.split("@")
        y, x = map(int, offsets.split(","))
        crop = photos[name][y : y + 28, x : x + 28]
        out = domain.splits["train"].images[i]
        on = base.splits["train"].images[i, ..., 0] > 0
        np.testing.assert_array_equal(out[~on], crop[~on])
        np.testing.assert_array_equal(out[on], 255 - crop[on])


def test_mnistm_rejects_rgb_base() -> None:
    base = make_mnistm(small_base())
    with pytest.raises(ConfigError, match="grayscale"):
        make_mnistm(base)


def test_mnistm_from_mnist5k_is_fast() -> None:
    import time

    base = read_mnist5k()
    make_mnistm(base)  # warm the photo cache
    start = time.perf_counter()
    domain = make_mnistm(base, seed=2)
    assert time.perf_counter() - start < 2.0
    assert len(domain.splits["train"]) == 4000


# ----------------------------------------------------------------------------- specs


def test_parse_spec() -> None:
    assert parse_spec("mnist:data/mnist") == ("mnist", "data/mnist")
    assert parse_spec("synthetic:mnistm:mnist:mnist") == ("synthetic", "mnistm:mnist:mnist")
    assert parse_spec("bundled:uci-digits") == ("bundled", "uci-digits")
    assert "synthetic" in SPEC_KINDS


@pytest.mark.parametrize("spec", ["imagenet:foo", "mnist", "synthetic:mnistm:cifar:x"])
def test_parse_spec_unknown_kind(spec: str) -> None:
    with pytest.raises(ConfigError, match="mnist, usps") as err:
        parse_spec(spec)
    assert "mnist:<dir" in str(err.value)


@pytest.mark.parametrize("spec", ["bundled:cifar", "synthetic:svhnm"])
def test_parse_spec_bad_name(spec: str) -> None:
    with pytest.raises(ConfigError, match=spec.split(":")[1]):
        parse_spec(spec)


def test_resolve_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x").mkdir()
    (tmp_path / "b" / "x").mkdir()
    monkeypatch.setenv("GANTL_DATA_DIR", str(tmp_path / "b"))
    assert resolve_path("x", tmp_path / "a") == tmp_path / "a" / "x"
    assert resolve_path("x", None) == tmp_path / "b" / "x"
    assert resolve_path(str(tmp_path / "a"), tmp_path / "b") == tmp_path / "a"
    monkeypatch.delenv("GANTL_DATA_DIR")
    monkeypatch.chdir(tmp_path / "a")
    assert resolve_path("x", None) == tmp_path / "a" / "x"


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="GANTL_DATA_DIR") as err:
        load_domain("mnist:nowhere", data_dir=tmp_path)
    assert str(tmp_path / "nowhere") in str(err.value)


def test_load_domain_sets_spec_and_dispatches(tmp_path: Path) -> None:
    write_mnist(tmp_path, "t10k", 10)
    domain = load_domain("synthetic:mnistm:mnist:.", data_dir=tmp_path, seed=4)
    assert domain.spec == "synthetic:mnistm:mnist:."
    assert domain.name == "mnistm" and domain.shape == (28, 28, 3)
    assert len(domain.splits["test"]) == 10
    assert load_domain("bundled:uci-digits").spec == "bundled:uci-digits"
    assert load_domain("synthetic:mnistm", seed=1).raw_files[0].name == "mnist_5k.csv.gz"


# ----------------------------------------------------------------------------- real files


def shared_data() -> Path:
    env = os.environ.get("GANTL_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not root.is_dir():
        pytest.skip(f"../shared/data not present: real-data tests need it (looked in {root})")
    return root


def test_real_mnist_test_set() -> None:
    domain = load_domain("mnist:mnist", data_dir=shared_data())
    test = domain.splits["test"]
    assert set(domain.splits) == {"test"}
    assert test.images.shape == (10000, 28, 28, 1)
    expected = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(test.labels, minlength=10).tolist() == expected
    assert any("no train files" in note for note in domain.notes)


def test_real_usps() -> None:
    domain = load_domain("usps:usps/usps.h5", data_dir=shared_data())
    assert {k: len(v) for k, v in domain.splits.items()} == {"train": 7291, "test": 2007}
    assert domain.shape == (16, 16, 1)
    assert domain.splits["train"].images.max() == 255
