"""The data-use guard: credentialed data goes only to local models or zero-retention routes, unless the user
explicitly says otherwise (PhysioNet's data use agreement forbids sending it to services that may retain it). Open
data is decided on the content, never on what a manifest says: by the proof the command layer hands in
(``medldr.open_data.open_data_proof`` re-derives the bundled demo), so the run stage imports neither the build nor the
perturb stage. Without a proof, every case is credentialed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from medldr.errors import MedldrError
from medldr.run.providers import Provider
from medldr.run.providers.base import redact_url
from medldr.run.providers.pool import split_urls
from medldr.schema import build_manifest_of, read_build_manifest

ALLOW_LIST_ENV = "MEDLDR_ZERO_RETENTION_ENDPOINTS"

OpenDataProof = Callable[[Path], str | None]
"""cases file -> why it is open data (it is what the open source gives, byte for byte), or None: credentialed."""


def _allow_listed(base_url: str | None) -> bool:
    """Hosts or base URLs the user declared zero-retention, comma-separated in MEDLDR_ZERO_RETENTION_ENDPOINTS (a
    pool: every one of its endpoints)."""
    entries = [e.strip().rstrip("/") for e in os.environ.get(ALLOW_LIST_ENV, "").split(",") if e.strip()]
    urls = split_urls(base_url)
    if not urls or not entries:
        return False
    return all(url.rstrip("/") in entries or (urlparse(url).hostname or "") in entries for url in urls)


def data_use_decision(
    cases_file: Path,
    provider: Provider,
    base_url: str | None,
    *,
    allow_sharing: bool,
    open_data: OpenDataProof | None = None,
) -> dict[str, Any]:
    """Allow or refuse sending these cases to this provider; returns the decision for the manifest, or raises.
    ``open_data`` proves cases open (none given: credentialed)."""
    manifest_path = build_manifest_of(cases_file)
    source = read_build_manifest(manifest_path).source if manifest_path.exists() else "unknown (no build manifest)"
    shown = ",".join(str(redact_url(url)) for url in split_urls(base_url)) or None
    decision: dict[str, Any] = {"source": source, "provider": provider.name, "base_url": shown}
    if provider.zero_retention:
        return {**decision, "decision": "allowed", "reason": "local model, loopback server or zero-retention route"}
    if _allow_listed(base_url):
        return {**decision, "decision": "allowed", "reason": f"endpoint listed in {ALLOW_LIST_ENV}"}
    proof = open_data(cases_file) if open_data is not None else None  # only when it decides something
    if proof is not None:
        return {**decision, "decision": "allowed", "reason": proof}
    if allow_sharing:
        return {**decision, "decision": "allowed", "reason": "overridden by the user (--allow-data-sharing)"}
    raise MedldrError(
        f"data-use rule: cases from {source} count as credentialed data (open data only when identical to a build of "
        f"the bundled demo) and may not be sent to {provider.name} "
        f"({shown or 'its public API'}), which may retain them; use a local model, a loopback server, Azure or a "
        f"zero-retention endpoint listed in {ALLOW_LIST_ENV}, or pass --allow-data-sharing if your agreement permits it"
    )
