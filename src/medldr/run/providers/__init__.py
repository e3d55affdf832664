"""Providers by name: ``--model NAME:MODEL``. A plain dict of loaders; each imports its SDK only when used."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from medldr.errors import MedldrError
from medldr.run.providers.base import (
    Completion,
    FinishReason,
    Message,
    Provider,
    is_azure_openai,
    is_loopback,
)
from medldr.run.providers.openai_http import LlamaServer, OpenAIServer, SGLangServer, VLLMServer
from medldr.run.providers.openai_wire import check_base_url
from medldr.run.providers.pool import EndpointPool, split_urls
from medldr.schema import ModelRef

Loader = Callable[[str, "str | None", float, "int | None"], Provider]  # (model, base URL, timeout, threads)


def _openai_like(name: str, default_url: str | None, key_env: str | None, *, azure: bool = False) -> Loader:
    """A hosted API through the ``openai`` SDK."""

    def load(model: str, base_url: str | None, timeout: float, threads: int | None) -> Provider:
        from medldr.run.providers.openai_compat import OpenAICompatible

        url = base_url or default_url
        endpoint = url or (os.environ.get("AZURE_OPENAI_ENDPOINT") if azure else None)
        return OpenAICompatible(
            model,
            name=name,
            base_url=url,
            api_key_env=key_env,
            timeout=timeout,
            azure=azure,
            zero_retention=(azure and is_azure_openai(endpoint)) or is_loopback(url),
        )

    return load


def _server(kind: type[OpenAIServer]) -> Loader:
    """A self-hosted OpenAI-compatible server over aiohttp (``openai_http``; aiohttp is imported on first use)."""

    def load(model: str, base_url: str | None, timeout: float, threads: int | None) -> Provider:
        return kind(model, base_url=base_url, timeout=timeout)

    return load


def _local(model: str, base_url: str | None, timeout: float, threads: int | None) -> Provider:
    from medldr.local_models import bundled_model_path
    from medldr.run.providers.llama import LlamaCpp

    return LlamaCpp(bundled_model_path(), name="local", threads=threads)


def _gguf(model: str, base_url: str | None, timeout: float, threads: int | None) -> Provider:
    from medldr.run.providers.llama import LlamaCpp

    return LlamaCpp(Path(model).expanduser(), name="gguf", threads=threads)


def _hf(model: str, base_url: str | None, timeout: float, threads: int | None) -> Provider:
    from medldr.run.providers.hf import Transformers

    return Transformers(model, threads=threads)


def _anthropic(route: str) -> Loader:
    def load(model: str, base_url: str | None, timeout: float, threads: int | None) -> Provider:
        from medldr.run.providers.anthropic import AnthropicMessages

        return AnthropicMessages(model, route=route, base_url=base_url, timeout=timeout)  # type: ignore[arg-type]

    return load


PROVIDERS: dict[str, Loader] = {
    "local": _local,
    "gguf": _gguf,
    "openai": _openai_like("openai", None, "OPENAI_API_KEY"),
    "azure": _openai_like("azure", None, "AZURE_OPENAI_API_KEY", azure=True),
    "openai-compatible": _server(OpenAIServer),
    "vllm": _server(VLLMServer),
    "sglang": _server(SGLangServer),
    "llama-server": _server(LlamaServer),
    "deepseek": _openai_like("deepseek", "https://api.deepseek.com", "DEEPSEEK_API_KEY"),
    "xai": _openai_like("xai", "https://api.x.ai/v1", "XAI_API_KEY"),
    "gemini": _openai_like("gemini", "https://generativelanguage.googleapis.com/v1beta/openai/", "GEMINI_API_KEY"),
    "anthropic": _anthropic("api"),
    "bedrock": _anthropic("bedrock"),
    "vertex": _anthropic("vertex"),
    "hf": _hf,
}
"""Provider name -> loader(model, base_url, timeout, threads). ``local`` is the bundled SmolLM2-135M-Instruct GGUF and
``gguf:PATH`` any GGUF file, both in-process through llama.cpp; ``hf:PATH`` a transformers model folder (or a trained
adapter, a .gguf file, ``bundled``) in-process. Self-hosted servers (``openai-compatible``, ``vllm``, ``sglang``,
``llama-server``) go over aiohttp, hosted APIs through their official SDKs. Azure, Bedrock and Vertex are
zero-retention routes; so is any loopback server."""


def get_provider(
    spec: str, *, base_url: str | None = None, timeout: float = 600.0, threads: int | None = None
) -> Provider:
    """``NAME:MODEL`` -> a provider; an unknown name fails listing the known ones. ``base_url`` may be a comma
    list: several replicas of a self-hosted server, one ``EndpointPool``. ``threads``: CPU threads of an
    in-process model (default: every core this process may use)."""
    ref = ModelRef.parse(spec)
    name, model = ref.provider, ref.id
    if name == "local":
        model = model or "SmolLM2-135M-Instruct"
    loader = PROVIDERS.get(name)
    if loader is None:
        raise MedldrError(f"--model {spec!r}: unknown provider {name!r}; known: {', '.join(PROVIDERS)}")
    if not model:
        raise MedldrError(f"--model {spec!r}: give the model after the provider, e.g. {name}:MODEL")
    urls = [check_base_url(url) for url in split_urls(base_url)]
    if len(urls) > 1:  # a pool of replicas: self-hosted servers only
        if len(set(urls)) < len(urls):
            raise MedldrError(f"--base-url: {next(u for u in urls if urls.count(u) > 1)!r} is given twice")
        members = [loader(model, url, timeout, threads) for url in urls]
        if not all(isinstance(m, OpenAIServer) for m in members):
            pools = ", ".join(n for n, load in PROVIDERS.items() if load.__qualname__.startswith("_server"))
            raise MedldrError(
                f"--base-url given {len(urls)} times: endpoint pools are for self-hosted servers ({pools})"
            )
        return EndpointPool(members)  # type: ignore[arg-type]
    return loader(model, urls[0] if urls else None, timeout, threads)


__all__ = [
    "PROVIDERS",
    "Completion",
    "FinishReason",
    "Message",
    "Provider",
    "get_provider",
    "is_loopback",
]
