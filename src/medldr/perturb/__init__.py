"""The perturb stage, between build and run: ``medldr perturb CASES --out DIR`` writes the original cases and one
perturbed copy per kind, each a cases folder of its own (``DIR/KIND/<cases file name>``) with the build manifest
carried over (its label space, so ``medldr run`` treats it like the original) and ``perturbation.json`` (the kind,
whether it is invariant or sensitive, its parameters, the seed, what changed in each case, counts). Seeded and
deterministic: a case's random generator is seeded with (seed, kind, case id), so a case is perturbed the same way
whatever else is in the file. Every case is written, changed or not; the manifest lists the changed ones, which are
what ``medldr robustness`` compares."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from medldr import __version__
from medldr._files import atomic_write_text, folder_lock, sha256_file
from medldr.errors import MedldrError
from medldr.perturb.registry import KINDS, Kind
from medldr.schema import (
    ORIGINAL,
    PERTURBATION_MANIFEST,
    Case,
    OriginalCases,
    PerturbationManifest,
    build_manifest_of,
    case_line,
    read_build_manifest,
    read_cases,
    read_perturbation,
    write_cases,
)


def _perturbed(case: Case, kind: Kind, seed: int, where: str = "") -> tuple[Case, str | None]:
    rng = random.Random(f"{seed}:{kind.name}:{case.case_id}")
    try:
        change = kind.apply(case, rng)
    except ValueError as err:
        raise MedldrError(f"{where}case {case.case_id}: {kind.name}: {err}") from None
    if change is None:
        return case, None
    fields, what = change
    data = case.input_dict.model_dump(exclude_none=True)
    for name, value in fields.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return case.model_copy(update={"input_dict": type(case.input_dict).model_validate(data)}), what


def _manifest(kind: Kind | None, cases_file: Path, seed: int, changed: dict[str, str], n: int) -> PerturbationManifest:
    return PerturbationManifest(
        kind=kind.name if kind else ORIGINAL,
        expect=kind.expect if kind else None,
        rule=kind.rule if kind else "the cases as built",
        params=kind.params if kind else {},
        seed=seed,
        original=OriginalCases(cases_file=str(Path(cases_file).resolve()), sha256=sha256_file(cases_file)),
        n_cases=n,
        n_changed=len(changed),
        changed=changed,
        medldr_version=__version__,
    )


def kinds_named(names: list[str] | None) -> list[Kind]:
    """The kinds asked for (all, in registry order, when none are named); an unknown name is one line."""
    if not names:
        return list(KINDS.values())
    unknown = [name for name in names if name not in KINDS]
    if unknown:
        raise MedldrError(f"--kind {unknown[0]!r}: expected one of {', '.join(KINDS)}")
    return [KINDS[name] for name in dict.fromkeys(names)]


def perturb_cases(cases_file: Path, out: Path, kinds: list[str] | None = None, seed: int = 0) -> list[Path]:
    """Write DIR/original/ and DIR/KIND/ for each kind; returns the cases files written. Re-running the same command
    rewrites the same bytes; a folder holding other cases (another seed or source) is refused, never overwritten."""
    cases_file, out = Path(cases_file), Path(out)
    if not cases_file.is_file():
        raise MedldrError(f"{cases_file}: no such cases file (medldr build writes them)")
    build_manifest = build_manifest_of(cases_file)
    if not build_manifest.is_file():
        raise MedldrError(f"{build_manifest}: no build manifest beside the cases (perturb built cases: medldr build)")
    read_build_manifest(build_manifest)  # a damaged manifest is one line here, not in a later run
    chosen = kinds_named(kinds)
    cases = read_cases(cases_file)
    written = []
    with folder_lock(out):
        plan: list[tuple[Kind | None, list[Case], dict[str, str]]] = [(None, cases, {})]
        for kind in chosen:
            pairs = [_perturbed(case, kind, seed, f"{cases_file}: ") for case in cases]
            changed = {c.case_id: w for c, w in pairs if w is not None}
            if changed or kinds:  # a kind no case offers anything to is left out unless asked for by name
                plan.append((kind, [c for c, _ in pairs], changed))
        manifests = [_manifest(kind, cases_file, seed, changed, len(cases)) for kind, _, changed in plan]
        folders = [out / (kind.name if kind else ORIGINAL) for kind, _, _ in plan]
        for folder, manifest in zip(folders, manifests, strict=True):  # every refusal before anything is written
            _refuse_other(folder / PERTURBATION_MANIFEST, manifest)
        for folder, manifest, (_, perturbed, _) in zip(folders, manifests, plan, strict=True):
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / cases_file.name
            write_cases(target, perturbed)
            atomic_write_text(build_manifest_of(target), build_manifest.read_text())
            atomic_write_text(folder / PERTURBATION_MANIFEST, _json(manifest))
            written.append(target)
    return written


def _json(manifest: PerturbationManifest) -> str:
    return json.dumps(manifest.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def _refuse_other(path: Path, manifest: PerturbationManifest) -> None:
    """A folder perturbed from other cases or with another seed or parameters is never overwritten."""
    if not path.exists():
        if path.parent.is_dir() and any(p.name != ".medldr.lock" for p in path.parent.iterdir()):
            raise MedldrError(f"{path.parent}: holds other files; choose another --out")
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        raise MedldrError(f"{path}: not a perturbation manifest; choose another --out") from None
    keys = ("kind", "params", "seed", "original")
    new = manifest.model_dump(mode="json")
    if [old.get(k) for k in keys] != [new[k] for k in keys]:
        raise MedldrError(f"{path}: holds another perturbation (other cases, seed or parameters); choose another --out")


def perturbed_from(cases_file: Path) -> tuple[Path, str] | None:
    """(the original cases file, the kind) when ``cases_file`` is exactly what ``medldr perturb`` makes of that file
    with its recorded kind, parameters and seed (re-derived here, byte for byte, never taken on the manifest's word);
    None otherwise. The data-use guard uses it to treat a perturbed copy of open data as open data."""
    try:
        manifest = read_perturbation(cases_file)
    except MedldrError:
        return None
    kind = KINDS.get(manifest.kind) if manifest is not None else None
    if manifest is None or kind is None or manifest.params != kind.params:
        return None
    recorded = manifest.original
    candidates = [Path(recorded.cases_file), Path(cases_file).parent.parent / ORIGINAL / Path(cases_file).name]
    original = next((c for c in candidates if c.is_file() and sha256_file(c) == recorded.sha256), None)
    if original is None:
        return None
    try:
        rederived = [_perturbed(case, kind, manifest.seed)[0] for case in read_cases(original)]
    except (MedldrError, KeyError, TypeError, ValueError):
        return None
    text = "".join(case_line(case) + "\n" for case in rederived).encode()
    return (original, kind.name) if hashlib.sha256(text).hexdigest() == sha256_file(cases_file) else None
