"""The report stage: scored runs -> paper tables (CSV, Markdown, LaTeX), figures (PNG, SVG), one offline HTML file.

It reads scores.json, per_case.csv and manifests only, never raw model output.
"""

from medldr.report.inputs import ScoredFolder, load_folders
from medldr.report.report import INDEX, Report, WrittenReport, build_report, write_report
from medldr.report.tables import Column, Estimate, Table, format_value, to_csv, to_latex, to_markdown

__all__ = [
    "INDEX",
    "Column",
    "Estimate",
    "Report",
    "ScoredFolder",
    "Table",
    "WrittenReport",
    "build_report",
    "format_value",
    "load_folders",
    "to_csv",
    "to_latex",
    "to_markdown",
    "write_report",
]
