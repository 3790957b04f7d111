"""Domain specs: one string `kind:arg` that names where a domain's images come from.

params.yaml and the CLI name domains this way (`mnist:mnist`, `usps:usps/usps.h5`,
`bundled:mnist5k`, `synthetic:mnistm:mnist:mnist`), so a spec is checked as soon as it is read
and a typo fails before any data is touched. The syntax (kinds, forms, `parse_spec`) lives in
gantl.data.spec_syntax, which loads no reader; this module re-exports it and maps each kind to
its reader.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from gantl.data.bundled import read_mnist5k, read_uci_digits
from gantl.data.domain import RawDomain
from gantl.data.readers import read_folder, read_list, read_mnist, read_npz, read_svhn, read_usps
from gantl.data.spec_syntax import (
    BUNDLED_NAMES,
    DATA_DIR_ENV,
    DEFAULT_MNISTM_BASE,
    SPEC_FORMS,
    SPEC_KINDS,
    SYNTHETIC,
    parse_spec,
    synthetic_parts,
)
from gantl.data.synthetic import make_mnistm
from gantl.errors import DataError

BUNDLED: dict[str, Callable[[int], RawDomain]] = {
    "mnist5k": read_mnist5k,
    "uci-digits": read_uci_digits,
}
if tuple(BUNDLED) != BUNDLED_NAMES:  # the syntax module names exactly the readers here
    raise AssertionError(f"BUNDLED {tuple(BUNDLED)} != spec_syntax.BUNDLED_NAMES {BUNDLED_NAMES}")
PATH_READERS: dict[str, Callable[[Path], RawDomain]] = {
    "mnist": read_mnist,
    "usps": read_usps,
    "svhn": read_svhn,
    "folder": read_folder,
    "list": read_list,
    "npz": read_npz,
}
__all__ = [
    "BUNDLED",
    "BUNDLED_NAMES",
    "DATA_DIR_ENV",
    "DEFAULT_MNISTM_BASE",
    "PATH_READERS",
    "SPEC_FORMS",
    "SPEC_KINDS",
    "SYNTHETIC",
    "load_domain",
    "parse_spec",
    "resolve_path",
    "synthetic_parts",
]


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
        _, base = synthetic_parts(spec, arg)
        domain = make_mnistm(load_domain(base, data_dir, seed), seed)
    else:
        domain = PATH_READERS[kind](resolve_path(arg, data_dir))
    return replace(domain, spec=spec)
