"""The build stage: raw EHR tables -> LDR cases (JSONL per split) and a build manifest."""

from __future__ import annotations

from pathlib import Path

from medldr.build.eicu import EicuConfig, build_eicu, eicu_config
from medldr.build.pipeline import OUTPUT_FILES, BuildConfig, Progress, build_cases
from medldr.build.splits import inference_subset, split_subjects
from medldr.errors import MedldrError
from medldr.schema import BuildManifest
from medldr.sources import EicuSource, Source


def build_source(
    source: Source,
    out: Path,
    config: BuildConfig | EicuConfig,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> BuildManifest:
    """Build cases from any registered source: eICU-CRD with its own recipe, MIMIC-IV (and the demo) with theirs."""
    if isinstance(source, EicuSource) != isinstance(config, EicuConfig):
        raise MedldrError(
            f"{source.name}: its build takes {'EicuConfig' if isinstance(source, EicuSource) else 'BuildConfig'}"
        )
    if isinstance(source, EicuSource):
        return build_eicu(source, out, config, force=force, progress=progress)  # type: ignore[arg-type]
    return build_cases(source, out, config, force=force, progress=progress)  # type: ignore[arg-type]


__all__ = [
    "OUTPUT_FILES",
    "BuildConfig",
    "EicuConfig",
    "Progress",
    "build_cases",
    "build_eicu",
    "build_source",
    "eicu_config",
    "inference_subset",
    "split_subjects",
]
