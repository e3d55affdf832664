"""OpenAI chat completions and every server that speaks them (vLLM, SGLang, llama.cpp server, DeepSeek, xAI,
Gemini's OpenAI endpoint), plus Azure OpenAI, through the official ``openai`` SDK (its retries and backoff)."""

from __future__ import annotations

import os
from typing import Any

from medldr.errors import MedldrError
from medldr.run.params import GenerationParams
from medldr.run.providers.base import Completion, Message, finish_reason, split_think


def _http_client(openai: Any, timeout: float) -> Any:
    """The SDK's own aiohttp transport (``openai[aiohttp]``), else its default httpx client. bench/harness.py on 2
    cores: 424-490 requests/s with aiohttp against 226-313 with httpx at concurrency 64 (about the same at 16)."""
    try:
        return openai.DefaultAioHttpClient(timeout=timeout)
    except (RuntimeError, AttributeError):  # the aiohttp extra is not installed, or an SDK without it
        return openai.DefaultAsyncHttpxClient(timeout=timeout)


class OpenAICompatible:
    """Chat completions over the ``openai`` SDK. Reasoning comes from ``reasoning_content`` (DeepSeek, vLLM),
    ``reasoning`` (some servers) or a leading ``<think>`` block in the text."""

    def __init__(
        self,
        model: str,
        *,
        name: str = "openai-compatible",
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout: float = 600.0,
        max_retries: int = 5,
        zero_retention: bool = False,
        azure: bool = False,
    ) -> None:
        try:
            import openai
        except ImportError:  # pragma: no cover - the SDK is a core dependency
            raise MedldrError('the OpenAI SDK is missing: pip install "medldr"') from None
        self.name, self.model, self.zero_retention = name, model, zero_retention
        # a wrong key, an unknown model or a refused request will not get better by retrying: stop the run
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
        options: dict[str, Any] = {"api_key": key or "not-needed", "timeout": timeout, "max_retries": max_retries}
        if azure:
            endpoint = base_url or os.environ.get("AZURE_OPENAI_ENDPOINT")
            if not endpoint:
                raise MedldrError("azure: set AZURE_OPENAI_ENDPOINT or pass --base-url")
            version = os.environ.get("OPENAI_API_VERSION", "2024-10-21")
            options |= {"azure_endpoint": endpoint, "api_version": version}
        else:
            options["base_url"] = base_url
        self._openai, self._azure, self._options, self._timeout = openai, azure, options, timeout
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The SDK client, made in the event loop that uses it (its connections belong to that loop)."""
        if self._client is None:
            make = self._openai.AsyncAzureOpenAI if self._azure else self._openai.AsyncOpenAI
            self._client = make(**self._options, http_client=_http_client(self._openai, self._timeout))
        return self._client

    async def aclose(self) -> None:
        """Close the connections; a later event loop gets a new client."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        request: dict[str, Any] = {"model": self.model, "messages": messages}
        for key in ("temperature", "top_p", "seed", "reasoning_effort"):
            value = getattr(params, key)
            if value is not None:
                request[key] = value
        if params.max_tokens is not None:
            request["max_tokens" if self.name == "openai-compatible" else "max_completion_tokens"] = params.max_tokens
        if params.json_mode:
            request["response_format"] = {"type": "json_object"}
        # the SDK's own POST (its retries, backoff and typed response) without re-walking the long message list
        # through its request TypedDict transform, which costs ~2 ms of CPU per request
        response = await self.client.post("/chat/completions", body=request, cast_to=self._completion_type)
        choice = response.choices[0]
        message = choice.message
        text = message.content or ""
        reasoning = getattr(message, "reasoning_content", None) or getattr(message, "reasoning", None)
        if reasoning is None:
            text, reasoning = split_think(text)
        usage: dict[str, int] = {}
        if response.usage is not None:
            usage = {"prompt_tokens": response.usage.prompt_tokens or 0,
                     "completion_tokens": response.usage.completion_tokens or 0}  # fmt: skip
            details = getattr(response.usage, "completion_tokens_details", None)
            if details is not None and getattr(details, "reasoning_tokens", None):
                usage["reasoning_tokens"] = details.reasoning_tokens
        return Completion(text, reasoning, finish_reason(choice.finish_reason), usage, response.model)
