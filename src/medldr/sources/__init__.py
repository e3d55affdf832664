"""Readers for raw EHR tables; the build stage reads only through them.

A source is one module (a ``Source``: its files, its tables as DuckDB views in the layout its recipe reads, its read
errors as one line); the build's registry (``medldr.assemble.SOURCES``) names it with its recipe. Later stages know a
source only by the name and release its build manifest records.
"""

from __future__ import annotations

from pathlib import Path

from medldr.sources.base import Source
from medldr.sources.eicu import EicuSource, open_eicu
from medldr.sources.files import describe_error
from medldr.sources.mimic import MimicSource, open_mimic, register_views
from medldr.sources.notes import discharge_note_sections, drop_findings, split_sections

DEMO_ROOT = Path(__file__).parent / "mimic_iv_demo"
"""The bundled MIMIC-IV Clinical Database Demo 2.2 tables (ODbL 1.0; see NOTICE.md beside them)."""
DEMO_NAME = "mimic-iv-demo (bundled)"


def open_demo() -> MimicSource:
    """The bundled open demo: hosp tables only (no ED module, no notes)."""
    return open_mimic(DEMO_ROOT, version="2.2", name=DEMO_NAME)


__all__ = [
    "DEMO_NAME",
    "DEMO_ROOT",
    "EicuSource",
    "MimicSource",
    "Source",
    "describe_error",
    "discharge_note_sections",
    "drop_findings",
    "open_demo",
    "open_eicu",
    "open_mimic",
    "register_views",
    "split_sections",
]
