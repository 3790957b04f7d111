"""The pipeline repo a page is about: its root, the evaluate summary and the params."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gantl.config import Params
from gantl.published import PUBLISHED


@dataclass(frozen=True)
class Workspace:
    """The pipeline repo the page is about, with its summary and params."""

    root: Path
    summary: dict[str, Any]
    params: Params | None  # None: read without a params file (no defaults to compare)

    def path(self, relative: Path | str) -> Path:
        return Path(self.root) / relative

    @property
    def results(self) -> dict[str, dict[str, Any]]:
        return self.summary["results"]

    @property
    def published(self) -> dict[str, dict[str, float]]:
        return PUBLISHED.get(self.summary["protocol"], {})
