"""Domain specs: one string `kind:arg` that names where a domain's images come from.

params.yaml and the CLI name domains this way (`mnist:mnist`, `usps:usps/usps.h5`,
`bundled:mnist5k`, `synthetic:mnistm:mnist:mnist`), so a spec is checked as soon as it is read
and a typo fails before any data is touched.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from gantl.data.bundled import read_mnist5k, read_uci_digits
from gantl.data.domain import RawDomain
from gantl.data.readers import read_folder, read_mnist, read_npz, read_svhn, read_usps
from gantl.data.synthetic import make_mnistm
from gantl.errors import ConfigError, DataError

SPEC_KINDS: tuple[str, ...] = ("mnist", "usps", "svhn", "folder", "npz", "bundled", "synthetic")
SPEC_FORMS: dict[str, str] = {
    "mnist": "mnist:<dir with IDX files>",
    "usps": "usps:<usps.h5 | zip.train[.gz|.bz2] | dir>",
    "svhn": "svhn:<dir with train_32x32.mat / test_32x32.mat>",
    "folder": "folder:<dir>/<class>/*.png or <dir>/train|test/<class>/…",
    "npz": "npz:<file.npz>",
    "bundled": "bundled:mnist5k | bundled:uci-digits",
    "synthetic": "synthetic:mnistm[:<base spec>]",
}
BUNDLED: dict[str, Callable[[int], RawDomain]] = {
    "mnist5k": read_mnist5k,
    "uci-digits": read_uci_digits,
}
PATH_READERS: dict[str, Callable[[Path], RawDomain]] = {
    "mnist": read_mnist,
    "usps": read_usps,
    "svhn": read_svhn,
    "folder": read_folder,
    "npz": read_npz,
}
SYNTHETIC = ("mnistm",)
DEFAULT_MNISTM_BASE = "bundled:mnist5k"
DATA_DIR_ENV = "GANTL_DATA_DIR"


def _forms() -> str:
    return "; ".join(SPEC_FORMS.values())


def _synthetic_parts(spec: str, arg: str) -> tuple[str, str]:
    name, _, base = arg.partition(":")
    if name not in SYNTHETIC:
        raise ConfigError(
            f"unknown synthetic domain '{name}' in '{spec}': expected one of "
            f"{', '.join(SYNTHETIC)} (form {SPEC_FORMS['synthetic']})"
        )
    return name, base or DEFAULT_MNISTM_BASE


def parse_spec(spec: str) -> tuple[str, str]:
    """Split `spec` at its first ':' into (kind, arg), checking both."""
    kind, colon, arg = spec.partition(":")
    if not colon:
        raise ConfigError(
            f"domain spec '{spec}' has no ':': expected <kind>:<arg> with kind one of "
            f"{', '.join(SPEC_KINDS)} ({_forms()})"
        )
    if kind not in SPEC_KINDS:
        raise ConfigError(
            f"unknown domain spec kind '{kind}' in '{spec}': expected one of "
            f"{', '.join(SPEC_KINDS)} as <kind>:<arg> ({_forms()})"
        )
    if not arg:
        raise ConfigError(f"domain spec '{spec}' has no argument: expected {SPEC_FORMS[kind]}")
    if kind == "bundled" and arg not in BUNDLED:
        raise ConfigError(
            f"unknown bundled domain '{arg}' in '{spec}': expected one of "
            f"{', '.join(BUNDLED)} ({SPEC_FORMS['bundled']})"
        )
    if kind == "synthetic":
        _, base = _synthetic_parts(spec, arg)
        parse_spec(base)
    return kind, arg


def resolve_path(arg: str, data_dir: Path | None) -> Path:
    """`arg` as a path: absolute stays; relative joins data_dir, else $GANTL_DATA_DIR, else cwd."""
    path = Path(arg).expanduser()
    if not path.is_absolute():
        env = os.environ.get(DATA_DIR_ENV)
        root = Path(data_dir) if data_dir is not None else Path(env) if env else Path.cwd()
        path = root / path
    if not path.exists():
        raise DataError(
            f"{path}: no such file or directory (from '{arg}'; relative paths are resolved "
            f"against --data-dir if given, else ${DATA_DIR_ENV}, else the current directory)"
        )
    return path


def load_domain(spec: str, data_dir: Path | None = None, seed: int = 0) -> RawDomain:
    """Read the domain `spec` names; `seed` drives bundled shuffles and MNIST-M patches."""
    kind, arg = parse_spec(spec)
    if kind == "bundled":
        domain = BUNDLED[arg](seed)
    elif kind == "synthetic":
        _, base = _synthetic_parts(spec, arg)
        domain = make_mnistm(load_domain(base, data_dir, seed), seed)
    else:
        domain = PATH_READERS[kind](resolve_path(arg, data_dir))
    return replace(domain, spec=spec)
