"""The open-data proof the data-use guard is handed (a flow: it chains the build and perturb stages, which the run
stage may not import): cases are open only when re-deriving them from the bundled open demo gives the same bytes."""

from __future__ import annotations

from pathlib import Path

from medldr.assemble.provenance import open_data_reason
from medldr.perturb import perturbed_from


def open_data_proof(cases_file: Path) -> str | None:
    """Why ``cases_file`` is open data (a build of the bundled demo, or a ``medldr perturb`` copy of one, each
    re-derived byte for byte), or None: credentialed.

    Rebuilds the claimed open source, so it is asked only when it decides something (a destination that may retain
    data)."""
    reason = open_data_reason(cases_file)
    if reason is None and (source_copy := perturbed_from(cases_file)) is not None:
        original, kind = source_copy
        base = open_data_reason(original)
        reason = f"a medldr perturb copy ({kind}, re-derived) of {original}, {base}" if base else None
    return reason
