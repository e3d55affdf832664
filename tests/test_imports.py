"""The one-way flow, read from the source: no stage imports a stage downstream of it, nor one the house keeps apart
(every import counted, those inside functions too), and the package has no import circles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "medldr"

# a module's stage: its first package under medldr (the sources are the build stage's raw data)
STAGE = {"sources": "build", "assemble": "build", "build": "build"}
FLOWS = {"cli", "demo", "judging", "open_data", "_console", "__main__"}  # the modules that chain stages
NEVER: dict[str, set[str]] = {
    "build": {"perturb", "run", "score", "report", "train", "baselines", "flow"},
    "perturb": {"run", "score", "report", "train", "baselines", "flow"},
    "run": {"build", "perturb", "score", "report", "train", "baselines", "flow"},
    "score": {"build", "perturb", "run", "report", "train", "baselines", "flow"},
    "report": {"build", "perturb", "run", "train", "baselines", "flow"},
    "train": {"build", "perturb", "run", "report", "baselines", "flow"},
    "baselines": {"perturb", "run", "score", "report", "train", "flow"},
    "shared": {"build", "perturb", "run", "score", "report", "train", "baselines", "flow"},
}


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _stage(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "shared"
    head = parts[1]
    if head in FLOWS:
        return "flow"
    if head in ("run", "score", "report", "train", "baselines", "perturb"):
        return head
    return STAGE.get(head, "shared")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module(path) if path.name == "__init__.py" else _module(path).rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name == "medldr" or name.startswith("medldr.")}


MODULES = {_module(path): path for path in SRC.rglob("*.py") if "mimic_iv_demo" not in path.parts}
EDGES = {module: {name for name in _imports(path) if name in MODULES} for module, path in MODULES.items()}


def test_no_stage_imports_one_it_may_not() -> None:
    broken = sorted(
        f"{module} ({_stage(module)}) imports {name} ({_stage(name)})"
        for module, names in EDGES.items()
        for name in names
        if name != "medldr" and _stage(name) in NEVER.get(_stage(module), set())
    )
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("medldr.run.guard", "medldr.assemble.provenance"),
        ("medldr.run.guard", "medldr.perturb"),
        ("medldr.score.robustness_files", "medldr.perturb"),
        ("medldr.train.common", "medldr.run.execute"),
        ("medldr.train.common", "medldr.run.providers.hf"),
        ("medldr.train.config", "medldr.run.providers.hf"),
        ("medldr.train.__main__", "medldr.cli"),
    ],
)
def test_the_edges_the_issue_found_are_gone(importer: str, imported: str) -> None:
    assert imported not in EDGES[importer]


def test_no_import_circles_inside_the_package() -> None:
    """Modules only (a package's __init__ re-exporting its modules is not a circle of code)."""
    edges = {m: {n for n in names if MODULES[n].name != "__init__.py"} for m, names in EDGES.items()}
    circles = []
    for start in edges:
        stack, seen = [(start, (start,))], set()
        while stack:
            node, path = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start and len(path) > 1:
                    circles.append(" -> ".join((*path, start)))
                elif nxt not in seen and nxt not in path:
                    seen.add(nxt)
                    stack.append((nxt, (*path, nxt)))
    assert not circles, "\n".join(sorted(set(circles))[:10])
