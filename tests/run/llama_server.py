"""llama-cpp-python's OpenAI-compatible server (``llama_cpp.server``) on the bundled model: a real server for the
self-hosted route. Usage: python tests/run/llama_server.py PORT

The model is loaded the way medldr's in-process provider loads it (extra buffer types off: the AMX path segfaults on
current Xeons), then uvicorn serves the server's own FastAPI app.
"""

from __future__ import annotations

import os
import sys

import uvicorn
from llama_cpp.server.app import create_app
from llama_cpp.server.settings import ModelSettings, ServerSettings

from medldr.local_models import bundled_model_path
from medldr.run.providers.llama import _without_extra_buffer_types

if __name__ == "__main__":
    port = int(sys.argv[1])
    threads = len(os.sched_getaffinity(0))
    model = ModelSettings(
        model=str(bundled_model_path()),
        model_alias="smollm2",
        n_ctx=8192,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    with _without_extra_buffer_types():
        app = create_app(server_settings=ServerSettings(host="127.0.0.1", port=port), model_settings=[model])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
