"""In-process llama.cpp (``llama-cpp-python``): the bundled small model (``--model local``) or any GGUF file
(``--model gguf:/path/model.gguf``), offline, with the answer JSON grammar-constrained so even a tiny model answers in
the schema."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from medldr._files import weights_identity
from medldr.answer import split_reasoning
from medldr.errors import MedldrError
from medldr.run.params import GenerationParams
from medldr.run.providers.base import Completion, InProcess, Message, finish_reason, usable_cores

DEFAULT_CONTEXT = 8192


@contextmanager
def _without_extra_buffer_types() -> Iterator[None]:
    """Load with ``use_extra_bufts = False``. llama.cpp's extra (repacking) buffer types include the AMX one, whose
    matmul segfaults on current Xeons with AMX; ``Llama()`` takes no argument for it (extra keywords are dropped), so
    the default model parameters it starts from are adjusted for the duration of the load."""
    import llama_cpp.llama as llama_module

    original = llama_module.llama_cpp.llama_model_default_params

    def defaults():  # type: ignore[no-untyped-def]
        params = original()
        params.use_extra_bufts = False
        return params

    llama_module.llama_cpp.llama_model_default_params = defaults
    try:
        yield
    finally:
        llama_module.llama_cpp.llama_model_default_params = original


class LlamaCpp(InProcess):
    """A GGUF model loaded once, answering one request at a time on its worker thread."""

    wants_answer_schema = True

    def __init__(
        self, model_path: Path, *, name: str = "llama.cpp", n_ctx: int = DEFAULT_CONTEXT, threads: int | None = None
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise MedldrError('llama.cpp support is not installed: pip install "medldr[local]"') from None
        model_path = Path(model_path)
        if not model_path.is_file():
            raise MedldrError(f"{model_path}: no such GGUF file")
        self.name, self.model, self.path = name, model_path.name, model_path
        threads = threads or usable_cores()
        try:
            with _without_extra_buffer_types():
                self._llama = Llama(
                    model_path=str(model_path),
                    n_ctx=n_ctx,
                    n_threads=threads,  # llama.cpp's default is half the cores
                    n_threads_batch=threads,
                    verbose=False,
                )
        except ValueError as err:
            raise MedldrError(f"{model_path}: llama.cpp could not load it ({err})") from None

    default_max_tokens = 512

    def artifact(self) -> dict[str, Any]:
        return weights_identity(self.path)

    def count_tokens(self, messages: list[Message]) -> int:
        """Each message's tokens by the model's tokenizer, and 4 per message for its chat template's markers."""
        return sum(len(self._llama.tokenize(m["content"].encode(), add_bos=False)) + 4 for m in messages)

    def _complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        request: dict[str, Any] = {"messages": messages, "max_tokens": params.max_tokens or self.default_max_tokens}
        if params.temperature is not None:
            request["temperature"] = params.temperature
        if params.top_p is not None:
            request["top_p"] = params.top_p
        if params.seed is not None:
            request["seed"] = params.seed
        if params.json_schema is not None:
            request["response_format"] = {"type": "json_object", "schema": params.json_schema}
        response = self._llama.create_chat_completion(**request)
        choice = response["choices"][0]
        text, reasoning = split_reasoning(choice["message"].get("content") or "")
        usage = {k: int(v) for k, v in response.get("usage", {}).items() if k in ("prompt_tokens", "completion_tokens")}
        return Completion(text, reasoning, finish_reason(choice.get("finish_reason")), usage, self.model)
