"""Readers for raw EHR tables; the build stage reads only through them."""

from pathlib import Path

from medldr.sources.base import Source
from medldr.sources.mimic import MimicSource, describe_error, open_mimic, register_views
from medldr.sources.notes import discharge_note_sections, drop_findings, split_sections

DEMO_ROOT = Path(__file__).parent / "mimic_iv_demo"
"""The bundled MIMIC-IV Clinical Database Demo 2.2 tables (ODbL 1.0; see NOTICE.md beside them)."""


def open_demo() -> MimicSource:
    """The bundled open demo: hosp tables only (no ED module, no notes)."""
    return open_mimic(DEMO_ROOT, version="2.2")


__all__ = [
    "DEMO_ROOT",
    "MimicSource",
    "Source",
    "describe_error",
    "discharge_note_sections",
    "drop_findings",
    "open_demo",
    "open_mimic",
    "register_views",
    "split_sections",
]
