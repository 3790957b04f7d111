"""Readers of the real file formats digit datasets ship in, each returning a `RawDomain`.

Users point the pipeline at the files they already have (MNIST IDX, USPS h5 or the original
`zip.train` text, SVHN `.mat`, a folder of images per class, an NPZ), so each reader parses the
format itself, checks it, and fails with one message naming the file and what was expected.
"""

from __future__ import annotations

import bz2
import gzip
import math
import re
import struct
import warnings
import zlib
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import scipy.io
from PIL import Image, UnidentifiedImageError

from gantl.data.domain import DIGIT_CLASSES, RawDomain, Split, make_split
from gantl.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

_IDX_IMAGES = 0x00000803  # ubyte, 3 dims: N × rows × cols
_IDX_LABELS = 0x00000801  # ubyte, 1 dim: N
_MNIST_PREFIXES = {"train": "train", "test": "t10k"}
_USPS_TEXT = re.compile(r"^zip\.(train|test)(\.gz|\.bz2)?$")
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})


# ----------------------------------------------------------------------------- shared helpers


def _read_bytes(path: Path) -> bytes:
    """The decompressed bytes of `path` (.gz and .bz2 by suffix)."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        if path.suffix == ".bz2":
            with bz2.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read or decompress: {exc}") from exc


def _first_existing(directory: Path, names: list[str]) -> Path | None:
    for name in names:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _origins(file: Path, n: int, prefix: str = "") -> np.ndarray:
    """Per-image pointers "<filename>#<prefix><row>" back to the raw bytes."""
    return np.array([f"{file.name}#{prefix}{i}" for i in range(n)], dtype=object)


def _check_shapes(splits: dict[str, Split], where: Path) -> None:
    """Every split of one domain must share H×W×C: the prepare stage stacks them."""
    shapes = {name: tuple(split.images.shape[1:]) for name, split in splits.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {'×'.join(map(str, s))}" for name, s in shapes.items())
        raise DataError(f"{where}: splits differ in image shape ({listed}); expected one H×W×C")


def _check_finite(images: np.ndarray, file: Path, what: str = "", chunk: int = 4096) -> None:
    """Float pixels must be finite: NaN and ±inf would otherwise become 0 (or 255) silently.

    `images` is N×…; the message names the first bad row (sample index) of `what` in `file`.
    """
    if images.ndim == 0 or not np.issubdtype(images.dtype, np.inexact):
        return
    for start in range(0, len(images), chunk):
        rows = images[start : start + chunk]
        ok = np.isfinite(rows).reshape(len(rows), -1).all(axis=1)
        if not ok.all():
            row = start + int(np.argmin(ok))
            raise DataError(
                f"{file}: {what}row {row} has NaN or infinite pixels (expected finite values)"
            )


def _square_side(width: int, file: Path, what: str) -> int:
    side = math.isqrt(width)
    if side * side != width:
        raise DataError(f"{file}: {what} rows have {width} values, expected a square image (256)")
    return side


# ----------------------------------------------------------------------------- MNIST (IDX)


def _read_idx(path: Path, magic: int, kind: str) -> np.ndarray:
    """Parse one IDX file of unsigned bytes; `magic` fixes the dtype (0x08) and the dims."""
    data = _read_bytes(path)
    found = struct.unpack(">I", data[:4])[0] if len(data) >= 4 else None
    if found != magic:
        shown = "none: file shorter than 4 bytes" if found is None else f"0x{found:08x}"
        raise DataError(f"{path}: not an IDX {kind} file (magic {shown}, expected 0x{magic:08x})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{path}: truncated: IDX header needs {header} bytes, file holds {len(data)}"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    need, have = math.prod(dims), len(data) - header
    if have < need:
        raise DataError(
            f"{path}: truncated: header promises {need} bytes of data, file holds {have}"
        )
    if have > need:
        raise DataError(
            f"{path}: {have - need} unexpected bytes after the {need} bytes of data "
            "the header promises"
        )
    # Copy: a view of `data` would be read-only, and callers may normalise in place.
    return np.frombuffer(data, dtype=np.uint8, count=need, offset=header).reshape(dims).copy()


def _idx_candidates(prefix: str, kind: str) -> list[str]:
    """`train-images-idx3-ubyte`, its `.`-separated variant, each optionally gzipped."""
    dashed = f"{prefix}-{kind}"
    dotted = dashed.replace("-idx", ".idx")
    return [dashed, f"{dashed}.gz", dotted, f"{dotted}.gz"]


def read_mnist(path: Path) -> RawDomain:
    """MNIST from a directory of IDX files; reads whichever of train and test (t10k) exist."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: expected a directory holding MNIST IDX files")
    splits: dict[str, Split] = {}
    raw_files: list[Path] = []
    looked_for: list[str] = []
    for split, prefix in _MNIST_PREFIXES.items():
        image_names = _idx_candidates(prefix, "images-idx3-ubyte")
        label_names = _idx_candidates(prefix, "labels-idx1-ubyte")
        looked_for += [f"{prefix}-images[-.]idx3-ubyte[.gz]", f"{prefix}-labels[-.]idx1-ubyte[.gz]"]
        images_file = _first_existing(path, image_names)
        labels_file = _first_existing(path, label_names)
        if images_file is None and labels_file is None:
            continue
        if images_file is None or labels_file is None:
            have, missing = (
                (labels_file, image_names) if images_file is None else (images_file, label_names)
            )
            raise DataError(
                f"{have}: found without its pair in {path} (looked for {', '.join(missing)})"
            )
        images = _read_idx(images_file, _IDX_IMAGES, "image")
        labels = _read_idx(labels_file, _IDX_LABELS, "label")
        source = f"{images_file} (labels: {labels_file.name})"
        splits[split] = make_split(
            images, labels, source, origins=_origins(images_file, len(images))
        )
        raw_files += [images_file, labels_file]
    if not splits:
        raise DataError(f"{path}: no MNIST IDX files found (looked for {', '.join(looked_for)})")
    _check_shapes(splits, path)
    notes = []
    if "train" not in splits:
        notes.append(f"mnist: no train files in '{path.name}/', only the t10k test files")
    if "test" not in splits:
        notes.append(f"mnist: no t10k files in '{path.name}/', only the train files")
    return RawDomain(
        name="mnist",
        spec=f"mnist:{path}",
        splits=splits,
        raw_files=tuple(raw_files),
        notes=tuple(notes),
    )


# ----------------------------------------------------------------------------- USPS


def _read_usps_h5(file: Path) -> dict[str, Split]:
    try:
        handle = h5py.File(file, "r")
    except OSError as exc:
        raise DataError(f"{file}: not a readable HDF5 file: {exc}") from exc
    splits: dict[str, Split] = {}
    with handle:
        has = sorted(handle.keys())
        for split in ("train", "test"):
            group = handle.get(split)
            if group is None:
                continue
            if not isinstance(group, h5py.Group) or not {"data", "target"} <= set(group.keys()):
                inside = sorted(group.keys()) if isinstance(group, h5py.Group) else "a dataset"
                raise DataError(
                    f"{file}: '{split}' holds {inside}, expected a group with datasets "
                    "'data' (N×256 floats in [0, 1]) and 'target' (N ints)"
                )
            data = np.asarray(group["data"][()])
            target = np.asarray(group["target"][()])
            _check_finite(data, file, f"'{split}/data' ")
            if data.ndim == 2:
                side = _square_side(data.shape[1], file, f"'{split}/data'")
                data = data.reshape(-1, side, side)
            source = f"{file}:{split}"
            splits[split] = make_split(
                data, target, source, origins=_origins(file, len(data), f"{split}/")
            )
    if not splits:
        raise DataError(
            f"{file}: has groups {has}, expected groups ['test', 'train'] "
            "each with datasets 'data' and 'target'"
        )
    return splits


def _read_usps_text(file: Path) -> Split:
    """The original ESL/Hull format: per line a label then 256 values in [-1, 1]."""
    text = _read_bytes(file)
    try:
        table = np.loadtxt(text.decode("ascii").splitlines(), dtype=np.float64, ndmin=2)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{file}: expected lines 'label v1 … v256' of numbers; could not parse: {exc}"
        ) from exc
    if table.size == 0:
        raise DataError(f"{file}: contains no images")
    side = _square_side(table.shape[1] - 1, file, "pixel")
    values = table[:, 1:]
    _check_finite(values, file)  # loadtxt reads "nan" and "inf"
    lo, hi = float(values.min()), float(values.max())
    if lo < -1.0 or hi > 1.0:
        raise DataError(f"{file}: pixel values must lie in [-1, 1], found [{lo:g}, {hi:g}]")
    images = np.rint((values + 1.0) / 2.0 * 255.0).astype(np.uint8).reshape(-1, side, side)
    return make_split(images, table[:, 0], str(file), origins=_origins(file, len(images)))


def _usps_text_files(directory: Path, prefer: Path | None = None) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for split in ("train", "test"):
        names = [f"zip.{split}", f"zip.{split}.gz", f"zip.{split}.bz2"]
        if prefer is not None and prefer.name in names:
            found[split] = prefer
        elif (hit := _first_existing(directory, names)) is not None:
            found[split] = hit
    return found


def read_usps(path: Path) -> RawDomain:
    """USPS from `usps.h5` (groups train/test) or the original `zip.train`/`zip.test` text."""
    path = Path(path)
    if path.is_dir():
        h5_file = path / "usps.h5"
        text_files = {} if h5_file.is_file() else _usps_text_files(path)
        if not h5_file.is_file() and not text_files:
            raise DataError(
                f"{path}: no USPS files found (looked for usps.h5, "
                "zip.train[.gz|.bz2], zip.test[.gz|.bz2])"
            )
    elif path.is_file():
        h5_file, text_files = path, {}
        if _USPS_TEXT.match(path.name):
            text_files = _usps_text_files(path.parent, prefer=path)
        elif not h5py.is_hdf5(path):
            raise DataError(f"{path}: expected usps.h5 (HDF5) or zip.train/zip.test[.gz|.bz2] text")
    else:
        raise DataError(f"{path}: no such file or directory")

    if text_files:
        splits = {split: _read_usps_text(file) for split, file in text_files.items()}
        raw_files = tuple(text_files.values())
    else:
        splits = _read_usps_h5(h5_file)
        raw_files = (h5_file,)
    _check_shapes(splits, path)
    notes = tuple(
        f"usps: no {split} split in '{path.name}'"
        for split in ("train", "test")
        if split not in splits
    )
    return RawDomain(
        name="usps", spec=f"usps:{path}", splits=splits, raw_files=raw_files, notes=notes
    )


# ----------------------------------------------------------------------------- SVHN


def read_svhn(path: Path) -> RawDomain:
    """SVHN cropped digits from `train_32x32.mat` / `test_32x32.mat` (label 10 means 0)."""
    path = Path(path)
    if path.is_file():
        path = path.parent
    if not path.is_dir():
        raise DataError(f"{path}: expected a directory holding train_32x32.mat / test_32x32.mat")
    splits: dict[str, Split] = {}
    raw_files: list[Path] = []
    for split in ("train", "test"):
        file = path / f"{split}_32x32.mat"
        if not file.is_file():
            continue
        try:
            mat = scipy.io.loadmat(file)
        except (ValueError, TypeError, OSError, NotImplementedError) as exc:
            raise DataError(f"{file}: not a readable MATLAB .mat file: {exc}") from exc
        if "X" not in mat or "y" not in mat:
            keys = sorted(k for k in mat if not k.startswith("__"))
            raise DataError(
                f"{file}: has variables {keys}, expected 'X' (32×32×3×N uint8) and 'y' (N×1)"
            )
        x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1)
        if x.ndim != 4:
            raise DataError(f"{file}: 'X' has shape {x.shape}, expected H×W×C×N (32×32×3×N)")
        if y.size and (y.min() < 1 or y.max() > 10):
            raise DataError(
                f"{file}: labels must lie in 1..10 (10 means digit 0), "
                f"found [{int(y.min())}, {int(y.max())}]"
            )
        images = np.transpose(x, (3, 0, 1, 2))
        _check_finite(images, file, "'X' ")
        labels = np.where(y == 10, 0, y)
        splits[split] = make_split(images, labels, str(file), origins=_origins(file, len(images)))
        raw_files.append(file)
    if not splits:
        raise DataError(f"{path}: no SVHN files found (looked for train_32x32.mat, test_32x32.mat)")
    _check_shapes(splits, path)
    return RawDomain(name="svhn", spec=f"svhn:{path}", splits=splits, raw_files=tuple(raw_files))


# ----------------------------------------------------------------------------- image folders


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _class_dirs(root: Path) -> list[Path]:
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        raise DataError(
            f"{root}: no class sub-folders; expected <folder>/<class>/*.png "
            "(or <folder>/train/<class>/…)"
        )
    return dirs


def _claimed_size(file: Path) -> tuple[int, int] | None:
    """Width × height as the image's header states it, read past PIL's pixel limit (the
    header only: nothing is decoded). None when no format reads the header."""
    Image.init()
    try:
        with open(file, "rb") as fh:
            prefix = fh.read(16)
            for fmt in Image.ID:
                factory, accept = Image.OPEN[fmt]
                accepted = not accept or accept(prefix)
                if not accepted or isinstance(accepted, str):  # str: PIL's "maybe, but no"
                    continue
                fh.seek(0)
                try:
                    return tuple(factory(fh, str(file)).size)  # type: ignore[return-value]
                except Exception:  # not this format: try the next one, as PIL does
                    continue
    except OSError:
        pass
    return None


def _load_image(file: Path) -> Image.Image:
    """One image, fully decoded; a file PIL cannot read, or one whose header claims more
    pixels than PIL's limit (Image.MAX_IMAGE_PIXELS: PIL warns above it and refuses above
    twice it; here both refuse, before anything is decoded), fails naming the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as im:
                im.load()
                return im.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        size = _claimed_size(file)
        shown = f"{size[0]}×{size[1]} pixels" if size else "more pixels"
        raise DataError(
            f"{file}: image of {shown} exceeds the {Image.MAX_IMAGE_PIXELS}-pixel limit "
            "(a decompression bomb?)"
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError, EOFError, SyntaxError) as exc:
        raise DataError(f"{file}: not a readable image: {exc}") from exc


def _is_gray(image: Image.Image) -> bool:
    """Gray by mode, or RGB whose three channels are equal everywhere (e.g. JPEG digits)."""
    if image.mode in _GRAY_MODES:
        return True
    rgb = np.asarray(image.convert("RGB"))
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def _folder_entries(
    root: Path, class_names: tuple[str, ...], class_root: Path
) -> list[tuple[int, Path]]:
    """(class index, file) of one split's images in a fixed order, checking the layout first."""
    dirs = _class_dirs(root)
    extra = sorted({d.name for d in dirs} - set(class_names))
    if extra:
        raise DataError(
            f"{root}: classes {extra} are not among the {len(class_names)} classes of "
            f"{class_root} ({', '.join(class_names)})"
        )
    entries = []
    for d in dirs:
        files = _image_files(d)
        if not files:
            raise DataError(
                f"{d}: class folder holds no images "
                f"(expected files ending {', '.join(IMAGE_EXTENSIONS)})"
            )
        entries += [(class_names.index(d.name), f) for f in files]
    return entries


def read_folder(path: Path) -> RawDomain:
    """Images in `<dir>/<class>/` (one train split) or `<dir>/train|test/<class>/`."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: expected a directory of class sub-folders of images")
    top = {p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")}
    split_layout = bool(top) and top <= {"train", "test"}
    roots = (
        {s: path / s for s in ("train", "test") if s in top} if split_layout else {"train": path}
    )
    class_root = next(iter(roots.values()))  # train, or the only split
    class_names = tuple(d.name for d in _class_dirs(class_root))

    entries = {
        split: _folder_entries(root, class_names, class_root) for split, root in roots.items()
    }
    where = {split: str(root) for split, root in roots.items()}
    return _decoded_domain(path, f"folder:{path}", entries, where, class_names)


def _decoded_domain(
    path: Path,
    spec: str,
    entries: dict[str, list[tuple[int, Path]]],
    where: dict[str, str],
    class_names: tuple[str, ...],
) -> RawDomain:
    """Decode each split's (label, file) entries to one mode and size: grey when every image
    is, else RGB; the first image's size, others resized (and a note saying how many).
    `path` names the domain; `where` names each split's source in errors and metadata."""
    images = {split: [_load_image(f) for _, f in items] for split, items in entries.items()}
    all_images = [im for ims in images.values() for im in ims]
    gray = all(_is_gray(im) for im in all_images)
    mode = "L" if gray else "RGB"
    size = all_images[0].size
    resized = 0
    splits: dict[str, Split] = {}
    base = path if path.is_dir() else path.parent
    for split, ims in images.items():
        arrays = []
        for im in ims:
            im = im.convert(mode)
            if im.size != size:
                im = im.resize(size, Image.Resampling.BILINEAR)
                resized += 1
            arrays.append(np.asarray(im, dtype=np.uint8))
        labels = np.array([label for label, _ in entries[split]], dtype=np.int64)
        origins = [_origin(f, base) for _, f in entries[split]]
        splits[split] = make_split(
            np.stack(arrays), labels, where[split], len(class_names), origins
        )
    notes = []
    if resized:
        notes.append(
            f"{path.resolve().name}: resized {resized} of {len(all_images)} images to "
            f"{size[0]}×{size[1]} (the first image's size), bilinear"
        )
    return RawDomain(
        name=path.resolve().stem if path.is_file() else path.resolve().name,
        spec=spec,
        splits=splits,
        class_names=class_names,
        raw_files=tuple(f for items in entries.values() for _, f in items),
        notes=tuple(notes),
    )


def _origin(file: Path, base: Path) -> str:
    """An image's name in the store: relative to the domain's folder where it lies inside."""
    try:
        return file.relative_to(base).as_posix()
    except ValueError:
        return file.as_posix()


# ----------------------------------------------------------------------------- image lists


def _list_entries(file: Path) -> list[tuple[int, Path]]:
    """(label, image) of each `<image path> <integer label>` line of an image list (TLlib's
    format; blank lines and `#` comments skipped). A relative path is looked up beside the
    list, then one folder up (TLlib's `<root>/image_list/<domain>.txt` names `<root>/…`)."""
    try:
        text = _read_bytes(file).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{file}: an image list must be UTF-8 text ({exc.reason})") from None
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, label = line.rpartition(" ")
        if not name.strip() or not label.isdigit():
            raise DataError(
                f"{file}:{number}: expected '<image path> <integer label>', got {line!r}"
            )
        image = Path(name.strip())
        if not image.is_absolute():
            found = [d / image for d in (file.parent, file.parent.parent) if (d / image).is_file()]
            if not found:
                raise DataError(
                    f"{file}:{number}: no image {image} beside the list or one folder up "
                    f"({file.parent}, {file.parent.parent})"
                )
            image = found[0]
        elif not image.is_file():
            raise DataError(f"{file}:{number}: no image {image}")
        entries.append((int(label), image))
    if not entries:
        raise DataError(f"{file}: the image list names no images")
    return entries


def read_list(path: Path) -> RawDomain:
    """An image-list file: one train split, classes named by their integer labels 0…max."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: expected an image-list file of '<image path> <label>' lines")
    entries = _list_entries(path)
    class_names = tuple(str(k) for k in range(1 + max(label for label, _ in entries)))
    domain = _decoded_domain(
        path, f"list:{path}", {"train": entries}, {"train": str(path)}, class_names
    )
    return replace(domain, raw_files=(path, *domain.raw_files))  # the list is an input too


# ----------------------------------------------------------------------------- NPZ


def _to_nhwc(x: np.ndarray, file: Path, key: str) -> np.ndarray:
    """N×H×W, N×H×W×C or N×C×H×W (channels first when axis 1 is 1|3 and the last is not)."""
    if x.ndim == 3:
        return x
    if x.ndim == 4:
        if x.shape[-1] in (1, 3):
            return x
        if x.shape[1] in (1, 3):
            return np.transpose(x, (0, 2, 3, 1))
    raise DataError(
        f"{file}: '{key}' has shape {x.shape}, expected N×H×W, N×H×W×C or N×C×H×W with C in (1, 3)"
    )


def read_npz(path: Path) -> RawDomain:
    """Arrays x_train/x_test with optional y_train/y_test (absent = unlabelled) and class_names."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: expected an .npz file with arrays x_train/x_test")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a readable .npz of plain arrays: {exc}") from exc
    keys = sorted(arrays)
    if "x_train" not in arrays and "x_test" not in arrays:
        raise DataError(f"{path}: has arrays {keys}, expected x_train and/or x_test")
    class_names: tuple[str, ...] = DIGIT_CLASSES
    if "class_names" in arrays:
        names = arrays["class_names"]
        if names.dtype.kind not in "US" or names.ndim != 1 or len(names) == 0:
            raise DataError(
                f"{path}: 'class_names' must be a 1-d array of strings, "
                f"got {names.dtype} shaped {names.shape}"
            )
        class_names = tuple(str(n) for n in names.astype(str))
    splits: dict[str, Split] = {}
    for split in ("train", "test"):
        x_key, y_key = f"x_{split}", f"y_{split}"
        if x_key not in arrays:
            if y_key in arrays:
                raise DataError(f"{path}: has '{y_key}' but no '{x_key}' (arrays: {keys})")
            continue
        images = _to_nhwc(arrays[x_key], path, x_key)
        _check_finite(images, path, f"'{x_key}' ")
        splits[split] = make_split(
            images,
            arrays.get(y_key),
            f"{path}:{x_key}",
            len(class_names),
            _origins(path, len(images), f"{x_key}/"),
        )
    _check_shapes(splits, path)
    return RawDomain(
        name=path.stem,
        spec=f"npz:{path}",
        splits=splits,
        class_names=class_names,
        raw_files=(path,),
    )
