"""The run stage: cases -> responses, through any provider, in rounds, resumable, under the data-use guard."""

from medldr.run.params import GenerationParams
from medldr.run.providers import PROVIDERS, get_provider
from medldr.run.runner import RunSettings, ask, run_cases

__all__ = ["PROVIDERS", "GenerationParams", "RunSettings", "ask", "get_provider", "run_cases"]
