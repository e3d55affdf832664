"""What a manifest records of the software that made it: medldr's version, the git sha, package versions."""

from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from medldr import __version__


def _git_sha() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def package_versions(packages: tuple[str, ...]) -> dict[str, str | None]:
    """medldr's version, the git sha when run from a checkout, and each package's installed version (or None)."""
    out: dict[str, str | None] = {"medldr": __version__, "git_sha": _git_sha()}
    for package in packages:
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out
