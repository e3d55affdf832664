"""Self-hosted OpenAI-compatible servers (vLLM, SGLang, llama.cpp server, any ``--base-url``) over plain aiohttp.

Why not the ``openai`` SDK here: against a server that answers instantly the SDK spends ~2 ms of CPU per request in
its own layers (request options, URL and header models, typed response construction), which caps one process near
450 requests/s on 2 cores; a plain aiohttp request costs ~0.3 ms (a whole answer through the runner ~0.8 ms,
bench/harness.py). It is also how vLLM's and SGLang's own benchmark clients talk to their servers, so throughput
comparisons with them are like for like. One ``complete`` is one HTTP request: the runner owns retries and asks
``retryable`` / ``retry_after`` (the SDK's rules: 408/409/429/5xx, connection errors and timeouts are transient,
``x-should-retry`` obeyed, ``retry-after-ms`` / ``Retry-After`` honoured). Hosted APIs (``openai:``, ``azure:``,
``deepseek:``...) keep the official SDK; ``openai:MODEL --base-url URL`` sends to any server through the SDK too.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from medldr import __version__
from medldr.errors import MedldrError
from medldr.run.params import GenerationParams
from medldr.run.providers.base import Completion, LoopClient, Message, is_loopback, redact_url
from medldr.run.providers.openai_wire import chat_request, check_base_url, completions_from_body, retry_after, transient

FATAL_STATUS = frozenset({400, 401, 403, 404, 422})  # a wrong key, model or request: retrying will not help


class EndpointError(Exception):
    """An HTTP error answer: its status, the server's message and how long it asked us to wait."""

    def __init__(self, status: int, message: str, headers: Any) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.retry_after, self.transient = status, retry_after(headers), transient(status, headers)


class EndpointRefused(EndpointError):
    """400/401/403/404/422: the run stops."""


class ServerDown(MedldrError):
    """Nothing listens at a local server's address: retrying for minutes would not start it; the run stops."""


class OpenAIServer(LoopClient):
    """``POST {base_url}/chat/completions`` over a keep-alive aiohttp session. The key, when the server wants one,
    comes from the environment only. A server kind is a subclass that names itself and its usual address."""

    name = "openai-compatible"
    default_url: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    fatal_errors: tuple[type[BaseException], ...] = (EndpointRefused, ServerDown)
    samples_per_request = True  # ``n``: every OpenAI-compatible server takes it (a server that ignores it is caught)

    def __init__(self, model: str, *, base_url: str | None = None, timeout: float = 600.0) -> None:
        url = check_base_url(base_url or self.default_url)
        self.model, self.zero_retention = model, is_loopback(url)
        self.url = url.rstrip("/") + "/chat/completions"
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"medldr/{__version__}",
        }
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._timeout = timeout

    def _make_client(self) -> Any:
        """An aiohttp session; the runner bounds concurrency, so its pool does not."""
        import aiohttp

        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            headers=self._headers,
        )

    def retryable(self, err: BaseException) -> bool:
        """Transient HTTP answers (the server's ``x-should-retry`` first), connection and payload errors, timeouts
        and malformed bodies; never a refusal."""
        if isinstance(err, EndpointError):
            return err.transient
        return super().retryable(err)

    def retry_after(self, err: BaseException) -> float | None:
        return err.retry_after if isinstance(err, EndpointError) else None

    async def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        return (await self._post(chat_request(self.model, messages, params, tokens_key="max_tokens")))[0]

    async def complete_many(self, messages: list[Message], params: GenerationParams, n: int) -> list[Completion]:
        """``n`` answers in one request (vLLM and SGLang sample them from one prefill of the prompt)."""
        completions = await self._post({**chat_request(self.model, messages, params, tokens_key="max_tokens"), "n": n})
        if len(completions) != n:
            raise ValueError(f"{self.url}: asked for {n} answers (n={n}), got {len(completions)}")
        return completions

    @property
    def base_url(self) -> str:
        return self.url.removesuffix("/chat/completions")

    async def healthy(self, timeout: float) -> str | None:
        """None when ``GET {base_url}/models`` answers 200 within ``timeout`` seconds (every OpenAI-compatible
        server serves it: vLLM, SGLang, llama.cpp), else why not."""
        import aiohttp

        try:
            async with self.client.get(self.base_url + "/models", timeout=aiohttp.ClientTimeout(total=timeout)) as r:
                await r.read()
                return None if r.status == 200 else f"HTTP {r.status}"
        except (aiohttp.ClientError, TimeoutError) as err:
            return type(err).__name__

    async def _post(self, request: dict[str, Any]) -> list[Completion]:
        import aiohttp

        try:
            async with self.client.post(self.url, data=orjson.dumps(request)) as response:
                data = await response.read()
                if response.status >= 400:
                    raise _error(response.status, data, response.headers)
        except aiohttp.ClientConnectorError as err:
            if self.zero_retention and isinstance(err.os_error, ConnectionRefusedError):
                raise ServerDown(
                    f"nothing answers at {redact_url(self.base_url)} (connection refused): start the {self.name} "
                    "server and wait until it is ready, or pass --base-url"
                ) from None
            raise
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ValueError(f"{self.url}: the answer is not JSON ({len(data)} bytes)") from None
        return completions_from_body(parsed)


class VLLMServer(OpenAIServer):
    name, default_url, api_key_env = "vllm", "http://127.0.0.1:8000/v1", None


class SGLangServer(OpenAIServer):
    name, default_url, api_key_env = "sglang", "http://127.0.0.1:30000/v1", None


class LlamaServer(OpenAIServer):
    name, default_url, api_key_env = "llama-server", "http://127.0.0.1:8080/v1", None


def _error(status: int, data: bytes, headers: Any) -> EndpointError:
    try:
        detail = orjson.loads(data)
        detail = detail.get("error", detail) if isinstance(detail, dict) else detail
        message = detail.get("message", str(detail)) if isinstance(detail, dict) else str(detail)
    except orjson.JSONDecodeError:
        message = data.decode("utf-8", "replace")
    kind = EndpointRefused if status in FATAL_STATUS else EndpointError
    return kind(status, str(message)[:300], headers)
