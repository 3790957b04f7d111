"""The validate stage: params.yaml checked in full before any stage touches an output.

`dvc repro` deletes a stale stage's outputs before running its command, so a params mistake
caught by that command would cost the user the outputs it was about to replace. Every stage
sits downstream of this one (prepare depends on its output), and this one tracks every param,
so DVC runs it first after any params change, and a failure here stops DVC before it removes
anything. Its output never changes while params are valid, so it makes no other stage stale.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gantl.config import Params
from gantl.errors import ConfigError
from gantl.io import write_json
from gantl.stages.paths import VALIDATED

# dvc.yaml interpolates these lists into stage names and command lines (`--method ${item}`)
COMMAND_LINE_LISTS = ("adapt.methods", "adapt.pixel_methods", "refine.methods", "translate.t2s")
COMMAND_LINE_VALUE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")


def command_line_values(params: Params) -> dict[str, list[str]]:
    """The params values dvc.yaml puts on a command line, by field."""
    values = {"translate.gan": [params.translate.gan]}
    for field in COMMAND_LINE_LISTS:
        section, key = field.split(".")
        values[field] = [str(v) for v in getattr(getattr(params, section), key)]
    return values


def check_command_line_values(params: Params, source: str = "params.yaml") -> None:
    """Every value that reaches a command line is a plain name: no shell can read it as more."""
    for field, values in command_line_values(params).items():
        for value in values:
            if not COMMAND_LINE_VALUE.fullmatch(value):
                raise ConfigError(
                    f"{source}: {field}: {value!r} is not a plain name (expected letters, digits "
                    "and _ . + -)"
                )


def validate(params: Params, out: Path = VALIDATED) -> dict[str, Any]:
    """Check what load_params cannot (command-line values), then write the constant marker."""
    check_command_line_values(params)
    record = {"params": "params.yaml", "valid": True}
    write_json(out, record)
    return record
