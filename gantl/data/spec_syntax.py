"""Domain spec syntax: one string `kind:arg` that names where a domain's images come from.

params.yaml and the CLI name domains this way (`mnist:mnist`, `usps:usps/usps.h5`,
`bundled:mnist5k`, `synthetic:mnistm:mnist:mnist`), so a spec is checked as soon as it is read
and a typo fails before any data is touched. This module knows only the syntax and imports
nothing but gantl.errors, so gantl.config can check specs without loading any data reader;
gantl.data.specs maps a checked spec to the reader that loads it.
"""

from __future__ import annotations

from gantl.errors import ConfigError

SPEC_KINDS: tuple[str, ...] = (
    "mnist",
    "usps",
    "svhn",
    "folder",
    "list",
    "npz",
    "bundled",
    "synthetic",
)
SPEC_FORMS: dict[str, str] = {
    "mnist": "mnist:<dir with IDX files>",
    "usps": "usps:<usps.h5 | zip.train[.gz|.bz2] | dir>",
    "svhn": "svhn:<dir with train_32x32.mat / test_32x32.mat>",
    "folder": "folder:<dir>/<class>/*.png or <dir>/train|test/<class>/…",
    "list": "list:<file of '<image path> <label>' lines>",
    "npz": "npz:<file.npz>",
    "bundled": "bundled:mnist5k | bundled:uci-digits",
    "synthetic": "synthetic:mnistm[:<base spec>]",
}
BUNDLED_NAMES: tuple[str, ...] = ("mnist5k", "uci-digits")  # gantl.data.specs.BUNDLED's keys
SYNTHETIC: tuple[str, ...] = ("mnistm",)
DEFAULT_MNISTM_BASE = "bundled:mnist5k"
DATA_DIR_ENV = "GANTL_DATA_DIR"


def _forms() -> str:
    return "; ".join(SPEC_FORMS.values())


def synthetic_parts(spec: str, arg: str) -> tuple[str, str]:
    """(name, base spec) of a `synthetic:` spec's argument; the base defaults to MNIST-5k."""
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
    if kind == "bundled" and arg not in BUNDLED_NAMES:
        raise ConfigError(
            f"unknown bundled domain '{arg}' in '{spec}': expected one of "
            f"{', '.join(BUNDLED_NAMES)} ({SPEC_FORMS['bundled']})"
        )
    if kind == "synthetic":
        _, base = synthetic_parts(spec, arg)
        parse_spec(base)
    return kind, arg
