"""Hosted chat completions APIs (OpenAI, Azure OpenAI, DeepSeek, xAI, Gemini's OpenAI endpoint, and any server
named with ``openai:MODEL --base-url URL``) through the official ``openai`` SDK (its auth, errors and types).
Self-hosted servers go through ``openai_http`` (why: its docstring). One ``complete`` is one request: the SDK's own
retries are off, the runner owns them (``retryable``, ``retry_after``)."""

from __future__ import annotations

import os
from typing import Any

from medldr.errors import MedldrError
from medldr.run.params import GenerationParams
from medldr.run.providers.base import Completion, LoopClient, Message
from medldr.run.providers.openai_wire import SDKRetryRules, chat_request, completion_from_body


def _http_client(openai: Any, timeout: float) -> Any:
    """The SDK's own aiohttp transport (``openai[aiohttp]``), else its default httpx client. bench/harness.py on 2
    cores: 424-490 requests/s with aiohttp against 226-313 with httpx at concurrency 64 (about the same at 16)."""
    try:
        return openai.DefaultAioHttpClient(timeout=timeout)
    except (RuntimeError, AttributeError):  # the aiohttp extra is not installed, or an SDK without it
        return openai.DefaultAsyncHttpxClient(timeout=timeout)


class OpenAICompatible(SDKRetryRules, LoopClient):
    """Chat completions over the ``openai`` SDK; the answer read as ``openai_http.completion_from_body`` reads it."""

    def __init__(
        self,
        model: str,
        *,
        name: str = "openai",
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout: float = 600.0,
        zero_retention: bool = False,
        azure: bool = False,
    ) -> None:
        try:
            import openai
        except ImportError:  # pragma: no cover - the SDK is a core dependency
            raise MedldrError('the OpenAI SDK is missing: pip install "medldr"') from None
        self.name, self.model, self.zero_retention = name, model, zero_retention
        # a wrong key, an unknown model or a refused request will not get better by retrying: stop the run
        self.status_error = (openai.APIStatusError,)
        self.fatal_errors: tuple[type[BaseException], ...] = (
            openai.AuthenticationError,
            openai.PermissionDeniedError,
            openai.BadRequestError,
            openai.NotFoundError,
            openai.UnprocessableEntityError,
        )
        key = os.environ.get(api_key_env) if api_key_env else None
        if api_key_env and not key and base_url is None:
            raise MedldrError(f"{name}: set the API key in the environment variable {api_key_env}")
        from openai.types.chat import ChatCompletion

        self._completion_type = ChatCompletion
        options: dict[str, Any] = {"api_key": key or "not-needed", "timeout": timeout, "max_retries": 0}
        if azure:
            endpoint = base_url or os.environ.get("AZURE_OPENAI_ENDPOINT")
            if not endpoint:
                raise MedldrError("azure: set AZURE_OPENAI_ENDPOINT or pass --base-url")
            version = os.environ.get("OPENAI_API_VERSION", "2024-10-21")
            options |= {"azure_endpoint": endpoint, "api_version": version}
        else:
            options["base_url"] = base_url
        self._openai, self._azure, self._options, self._timeout = openai, azure, options, timeout

    def _make_client(self) -> Any:
        make = self._openai.AsyncAzureOpenAI if self._azure else self._openai.AsyncOpenAI
        return make(**self._options, http_client=_http_client(self._openai, self._timeout))

    async def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        # OpenAI's own APIs renamed the limit (reasoning models refuse the old name); other vendors take max_tokens
        tokens_key = "max_completion_tokens" if self.name in ("openai", "azure") else "max_tokens"
        request = chat_request(self.model, messages, params, tokens_key=tokens_key)
        # the SDK's own POST (its auth, errors and typed response) without re-walking the long message list
        # through its request TypedDict transform, which costs ~2 ms of CPU per request
        response = await self.client.post("/chat/completions", body=request, cast_to=self._completion_type)
        return completion_from_body(response.to_dict())
