"""medldr: long-context diagnostic reasoning benchmarks from real electronic health records."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("medldr")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
