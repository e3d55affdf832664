"""The one registry of what ``medldr build KIND`` reads: each kind's opener (its raw files, checked) and its recipe
(its settings and how its tables become cases). A source in the layout the MIMIC recipe reads is one entry here; one
with a layout of its own is its source module (``medldr.sources``), its recipe module (beside this one) and one
entry. The build chooses the recipe by this entry, never by the source object's type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from medldr.assemble import eicu, mimic
from medldr.assemble.envelope import Progress
from medldr.errors import MedldrError
from medldr.schema import BuildManifest
from medldr.sources import DEMO_NAME, Source, open_demo, open_eicu, open_mimic


@dataclass(frozen=True)
class Recipe:
    """How one layout of raw tables becomes cases."""

    config: type[BaseModel]  # its settings, as a build manifest records them
    settings: Callable[[dict[str, Any]], BaseModel]  # build options given (None: not given) -> checked settings
    build: Callable[..., BuildManifest]  # (source, out, settings, *, force, progress) -> the written manifest


MIMIC = Recipe(mimic.BuildConfig, mimic.settings, mimic.build_cases)
EICU = Recipe(eicu.EicuConfig, eicu.settings, eicu.build_eicu)


@dataclass(frozen=True)
class SourceKind:
    """One kind of raw data ``medldr build KIND`` reads."""

    help: str
    opener: Callable[[Path | None, dict[str, Path], str | None], Source]  # (root, module folders, release)
    recipe: Recipe = MIMIC
    modules: tuple[str, ...] = ()  # optional module folders it takes (--ed, --note)
    # bundled open data: the source name its builds record (the data-use proof then checks a build's content)
    open_data_name: str | None = None


def _demo(root: Path | None, modules: dict[str, Path], release: str | None) -> Source:
    if root or modules or release:
        raise MedldrError("build demo reads the bundled demo; --root, --ed, --note and --release are for build mimic")
    return open_demo()


def _mimic(root: Path | None, modules: dict[str, Path], release: str | None) -> Source:
    if root is None:
        raise MedldrError("build mimic needs --root (the MIMIC-IV release folder that holds hosp/)")
    return open_mimic(root, ed=modules.get("ed"), note=modules.get("note"), version=release)


def _eicu(root: Path | None, modules: dict[str, Path], release: str | None) -> Source:
    if root is None:
        raise MedldrError("build eicu needs --root (the eICU-CRD release folder that holds patient.csv.gz)")
    return open_eicu(root, version=release)


SOURCES: dict[str, SourceKind] = {
    "demo": SourceKind("the bundled open MIMIC-IV demo (no path, no network)", _demo, open_data_name=DEMO_NAME),
    "mimic": SourceKind("MIMIC-IV 2.2 or 3.1 (give --root; --ed and --note optional)", _mimic, modules=("ed", "note")),
    "eicu": SourceKind("eICU-CRD 2.0 (give --root): LDR-eICU, the study's second benchmark", _eicu, EICU),
}


def _kind(kind: str) -> SourceKind:
    if kind not in SOURCES:
        raise MedldrError(f"build {kind!r}: expected {' or '.join(SOURCES)}")
    return SOURCES[kind]


def open_source(
    kind: str, root: Path | None = None, modules: dict[str, Path | None] | None = None, release: str | None = None
) -> Source:
    """The checked source of a registered kind; a module folder the kind does not take is refused."""
    entry = _kind(kind)
    given = {name: path for name, path in (modules or {}).items() if path is not None}
    extra = sorted(set(given) - set(entry.modules))
    if extra and kind != "demo":
        raise MedldrError(f"build {kind}: --{extra[0]} is not a module of this source")
    return entry.opener(root, given, release)


def build_source(
    kind: str,
    out: Path,
    options: dict[str, Any] | None = None,
    *,
    root: Path | None = None,
    modules: dict[str, Path | None] | None = None,
    release: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> BuildManifest:
    """``medldr build KIND``: the kind's settings from ``options`` (checked before any file is read), its source
    opened and checked, its recipe run in the build envelope."""
    entry = _kind(kind)
    config = entry.recipe.settings(dict(options or {}))
    source = open_source(kind, root, modules, release)
    return entry.recipe.build(source, Path(out), config, force=force, progress=progress)
