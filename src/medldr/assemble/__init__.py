"""The build stage (``medldr build``): raw EHR tables -> LDR cases (JSONL per split) and a build manifest. One envelope
(``envelope.py``) around one recipe per layout (``mimic.py``, ``eicu.py``), chosen by the ``SOURCES`` registry."""

from __future__ import annotations

from medldr.assemble.eicu import EicuConfig, build_eicu
from medldr.assemble.envelope import Progress
from medldr.assemble.mimic import OUTPUT_FILES, PROFILES, BuildConfig, build_cases
from medldr.assemble.registry import SOURCES, Recipe, SourceKind, build_source, open_source
from medldr.assemble.splits import inference_subset, split_subjects

__all__ = [
    "OUTPUT_FILES",
    "PROFILES",
    "SOURCES",
    "BuildConfig",
    "EicuConfig",
    "Progress",
    "Recipe",
    "SourceKind",
    "build_cases",
    "build_eicu",
    "build_source",
    "inference_subset",
    "open_source",
    "split_subjects",
]
