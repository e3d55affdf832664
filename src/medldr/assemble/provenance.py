"""Whether a cases file is open data: a build manifest can be written by hand, so a claim is checked against the
content. A cases file counts as the bundled open demo only when it is byte-identical to what the bundled demo
gives under the settings its manifest records (rebuilt here, about a second); anything else (other data, an edited
or perturbed file, a manifest claiming the demo for credentialed cases) is treated as credentialed."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

from pydantic import ValidationError

from medldr._files import sha256_file
from medldr.assemble.registry import SOURCES, open_source
from medldr.errors import MedldrError
from medldr.schema import build_manifest_of, read_build_manifest


def open_data_reason(cases_file: Path) -> str | None:
    """Why ``cases_file`` is open data (a reason for the data-use decision), or None when it is not shown to be."""
    manifest_path = build_manifest_of(cases_file)
    try:
        manifest = read_build_manifest(manifest_path)
    except MedldrError:
        return None
    for kind, entry in SOURCES.items():
        if entry.open_data_name is not None and manifest.source == entry.open_data_name:
            settings = json.dumps(manifest.settings, sort_keys=True)
            if _rebuilt_sha256(kind, settings, Path(cases_file).name) == sha256_file(cases_file):
                return f"open data: identical to the {manifest.source} build with its recorded settings"
    return None


@functools.lru_cache(maxsize=8)
def _rebuilt_sha256(kind: str, settings: str, name: str) -> str | None:
    """The SHA-256 of file ``name`` of a fresh build of the bundled source ``kind`` with these (JSON) settings."""
    try:
        recipe = SOURCES[kind].recipe
        config = recipe.config(**json.loads(settings))
    except ValidationError:  # settings this medldr cannot reproduce: not shown to be open
        return None
    with tempfile.TemporaryDirectory(prefix="medldr-open-data-") as folder:
        recipe.build(open_source(kind), Path(folder), config, force=True)
        rebuilt = Path(folder) / name
        return sha256_file(rebuilt) if rebuilt.is_file() else None
