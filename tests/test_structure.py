"""The shape of the code: each DVC stage depends on exactly the modules it imports, the core
imports no orchestration layer, and no function outside the algorithm files outgrows a screen.

Run this file as a script to print each stage's import closure (the `deps` dvc.yaml should list).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ALGORITHMS = (
    "dann",
    "adda",
    "cdan",
    "source_only",
)  # adapt@<m> and adapt_pixel@<m> import gantl.methods.<m>
# stage (as dvc.yaml names it, before foreach) → the modules `gantl stage <name>` runs
STAGE_ROOTS = {
    "validate": ["gantl.stages.validate"],
    "prepare": ["gantl.stages.prepare"],
    "pretrain": ["gantl.stages.pretrain"],
    "oracle": ["gantl.stages.pretrain"],
    "translate": ["gantl.stages.translate"],
    "adapt": ["gantl.stages.adapt", "gantl.methods.${item}"],
    "adapt_pixel": ["gantl.stages.adapt", "gantl.methods.${item}"],
    "refine": ["gantl.stages.refine"],
    "t2s": ["gantl.stages.t2s"],
    "evaluate": ["gantl.stages.evaluate"],
    "report": ["gantl.stages.report"],
}
MAX_LINES = 60
ALGORITHM_FILES = {"gantl/methods"}  # one file per paper: its loop may be as long as the paper's


def module_file(name: str) -> Path | None:
    path = ROOT.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """Every gantl module `path` imports, at top level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "gantl"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "gantl":
                continue
            found.add(node.module)
            # `from gantl.methods import cyclegan` imports a submodule
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if module_file(name) is not None}


def import_closure(*roots: str) -> set[str]:
    """Repo-relative paths of every gantl file that importing `roots` executes (packages'
    __init__ files included)."""
    todo, seen = list(roots), set()
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # a module runs its packages' __init__ first
            parent = ".".join(parts[:i])
            if parent not in seen and module_file(parent) is not None:
                seen.add(parent)
                todo.extend(imported_modules(module_file(parent)))
    return {module_file(name).relative_to(ROOT).as_posix() for name in seen}


def stage_closure(stage: str, item: str | None = None) -> set[str]:
    roots = [r.replace("${item}", item or "") for r in STAGE_ROOTS[stage]]
    return import_closure(*roots)


def code_deps(stage: str) -> list[str]:
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    deps = (spec.get("do") or spec)["deps"]
    return [d for d in deps if d.startswith("gantl/")]


@pytest.mark.parametrize("stage", [s for s in STAGE_ROOTS if s not in ("adapt", "adapt_pixel")])
def test_stage_deps_are_its_import_closure(stage):
    assert sorted(code_deps(stage)) == sorted(stage_closure(stage))


@pytest.mark.parametrize("stage", ["adapt", "adapt_pixel"])
def test_adapt_deps_name_the_algorithm_file_and_what_any_algorithm_needs(stage):
    """foreach stages share one deps list: `gantl/methods/${item}.py` is the algorithm, the
    rest is what the stage and the algorithms import. Never too few; no other algorithm."""
    deps = set(code_deps(stage))
    assert "gantl/methods/${item}.py" in deps
    items = ALGORITHMS if stage == "adapt_pixel" else ("dann", "adda", "cdan")
    needed = set().union(*(stage_closure(stage, m) - {f"gantl/methods/{m}.py"} for m in items))
    assert deps - {"gantl/methods/${item}.py"} == needed | {"gantl/methods/source_only.py"}
    for m in items:
        resolved = {d.replace("${item}", m) for d in deps}
        assert stage_closure(stage, m) <= resolved
    others = {
        f"gantl/methods/{m}.py" for m in ("dann", "adda", "cdan", "cyclegan", "stargan", "pixelda")
    }
    assert not (deps & others), "an adapt stage must not depend on another algorithm's file"


def test_gan_files_are_not_deps_of_feature_level_adaptation():
    """Editing cyclegan.py reruns translate and what reads its outputs, never adapt@dann."""
    for m in ("dann", "adda", "cdan"):
        assert "gantl/methods/cyclegan.py" not in stage_closure("adapt", m)
    assert "gantl/methods/cyclegan.py" in stage_closure("translate")


def test_core_imports_no_orchestration_layer():
    """gantl/ is the core library: no Prefect, DVC, flows or tasks (DESIGN: layers)."""
    banned = {"prefect", "prefect_dask", "dvc", "flows", "tasks"}
    for path in (ROOT / "gantl").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            bad = [n for n in names if n.split(".")[0] in banned]
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_no_function_outside_the_algorithm_files_is_over_60_lines():
    long = []
    for folder in ("gantl", "flows", "tasks"):
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if any(rel.startswith(a) for a in ALGORITHM_FILES):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > MAX_LINES:
                        long.append(f"{rel}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


if __name__ == "__main__":
    for stage in STAGE_ROOTS:
        items = {"adapt": ("dann", "adda", "cdan"), "adapt_pixel": ALGORITHMS}.get(stage, (None,))
        union = set().union(*(stage_closure(stage, m) for m in items))
        print(f"{stage}:")
        for dep in sorted(union):
            print(f"  - {dep}")
