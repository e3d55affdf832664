"""Self-hosted OpenAI-compatible servers (vLLM, SGLang, llama.cpp server, any ``--base-url``) over plain aiohttp.

Why not the ``openai`` SDK here: against a server that answers instantly the SDK spends ~2 ms of CPU per request in
its own layers (request options, URL and header models, typed response construction), which caps one process near
450 requests/s on 2 cores; a plain aiohttp request costs ~0.3 ms (a whole answer through the runner ~0.8 ms,
bench/harness.py). It is also how vLLM's and SGLang's own
benchmark clients talk to their servers, so throughput comparisons with them are like for like. Retries follow the
SDK's policy (408/409/429/5xx, connection errors and timeouts; ``retry-after-ms`` / ``Retry-After`` honoured, else
exponential backoff with jitter) through ``tenacity``. Hosted APIs (``openai:``, ``azure:``, ``deepseek:``...) keep
the official SDK; ``openai:MODEL --base-url URL`` sends to any server through the SDK too.
"""

from __future__ import annotations

import os
import time
from email.utils import parsedate_to_datetime
from typing import Any

import orjson
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from medldr import __version__
from medldr.errors import MedldrError
from medldr.run.params import GenerationParams
from medldr.run.providers.base import Completion, LoopClient, Message, finish_reason, split_think

FATAL_STATUS = frozenset({400, 401, 403, 404, 422})  # a wrong key, model or request: retrying will not help
RETRY_STATUS = frozenset({408, 409, 429})  # and every 5xx
MAX_RETRY_AFTER_S = 60.0  # a longer Retry-After is not waited out (the SDK's rule): exponential backoff instead


class EndpointError(Exception):
    """An HTTP error answer: its status, the server's message and how long it asked us to wait."""

    def __init__(self, status: int, message: str, retry_after: float | None, should_retry: bool | None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.retry_after, self.should_retry = status, retry_after, should_retry


class EndpointRefused(EndpointError):
    """400/401/403/404/422: the run stops."""


def retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, else ``Retry-After`` as seconds or an HTTP date.

    >>> retry_after({"retry-after-ms": "1500"}), retry_after({"Retry-After": "2"}), retry_after({})
    (1.5, 2.0, None)
    >>> retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0)
    10.0
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return float(lowered["retry-after-ms"]) / 1000
        value = lowered.get("retry-after")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            return parsedate_to_datetime(value).timestamp() - (time.time() if now is None else now)
    except (ValueError, TypeError):
        return None


def _transient(err: BaseException) -> bool:
    import aiohttp

    if isinstance(err, EndpointError):
        if err.should_retry is not None:
            return err.should_retry
        return err.status in RETRY_STATUS or err.status >= 500
    return isinstance(err, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | TimeoutError)


_backoff = wait_exponential_jitter(multiplier=0.5, max=8.0, jitter=0.25)


def _wait(state: RetryCallState) -> float:
    """The server's Retry-After when it gives a sane one, else exponential backoff with jitter."""
    err = state.outcome.exception() if state.outcome is not None else None
    asked = getattr(err, "retry_after", None)
    if asked is not None and 0 <= asked <= MAX_RETRY_AFTER_S:
        return asked
    return _backoff(state)


def completion_from_body(body: dict[str, Any]) -> Completion:
    """A chat completion's JSON -> our Completion. Reasoning from ``reasoning_content`` (DeepSeek, vLLM),
    ``reasoning`` (some servers) or a leading ``<think>`` block in the text. A body without a choice is an error."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise ValueError(f"not a chat completion: {str(body)[:200]}") from None
    text = message.get("content") or ""
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning is None:
        text, reasoning = split_think(text)
    usage: dict[str, int] = {}
    counts = body.get("usage") or {}
    if counts:
        usage = {"prompt_tokens": counts.get("prompt_tokens") or 0,
                 "completion_tokens": counts.get("completion_tokens") or 0}  # fmt: skip
        reasoning_tokens = (counts.get("completion_tokens_details") or {}).get("reasoning_tokens")
        if reasoning_tokens:
            usage["reasoning_tokens"] = reasoning_tokens
    return Completion(text, reasoning, finish_reason(choice.get("finish_reason")), usage, body.get("model"))


def chat_request(model: str, messages: list[Message], params: GenerationParams, *, tokens_key: str) -> dict[str, Any]:
    """The chat completions body for ``params`` (``tokens_key``: ``max_tokens`` or the newer
    ``max_completion_tokens``)."""
    request: dict[str, Any] = {"model": model, "messages": messages}
    for key in ("temperature", "top_p", "seed", "reasoning_effort"):
        value = getattr(params, key)
        if value is not None:
            request[key] = value
    if params.max_tokens is not None:
        request[tokens_key] = params.max_tokens
    if params.json_mode:
        request["response_format"] = {"type": "json_object"}
    return request


class OpenAIServer(LoopClient):
    """``POST {base_url}/chat/completions`` over a keep-alive aiohttp session. The key, when the server wants one,
    comes from the environment only."""

    fatal_errors: tuple[type[BaseException], ...] = (EndpointRefused,)

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout: float = 600.0,
        max_retries: int = 5,
        zero_retention: bool = False,
    ) -> None:
        self.name, self.model, self.zero_retention = "openai-compatible", model, zero_retention
        self.url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Content-Type": "application/json", "Accept": "application/json",
                         "User-Agent": f"medldr/{__version__}"}  # fmt: skip
        key = os.environ.get(api_key_env) if api_key_env else None
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._timeout, self._max_retries = timeout, max_retries

    def _make_client(self) -> Any:
        """An aiohttp session; the runner bounds concurrency, so its pool does not."""
        import aiohttp

        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            headers=self._headers,
        )

    async def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        body = orjson.dumps(chat_request(self.model, messages, params, tokens_key="max_tokens"))
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self._max_retries + 1), wait=_wait, retry=retry_if_exception(_transient),
            reraise=True,
        ):  # fmt: skip
            with attempt:
                return await self._post(body)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post(self, body: bytes) -> Completion:
        async with self.client.post(self.url, data=body) as response:
            data = await response.read()
            if response.status >= 400:
                raise _error(response.status, data, response.headers)
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ValueError(f"{self.url}: the answer is not JSON ({len(data)} bytes)") from None
        return completion_from_body(parsed)


def _error(status: int, data: bytes, headers: Any) -> EndpointError:
    try:
        detail = orjson.loads(data)
        detail = detail.get("error", detail) if isinstance(detail, dict) else detail
        message = detail.get("message", str(detail)) if isinstance(detail, dict) else str(detail)
    except orjson.JSONDecodeError:
        message = data.decode("utf-8", "replace")
    should = headers.get("x-should-retry")
    should_retry = None if should is None else should.lower() == "true"
    kind = EndpointRefused if status in FATAL_STATUS else EndpointError
    return kind(status, str(message)[:300], retry_after(headers), should_retry)


def check_base_url(base_url: str | None) -> str:
    if not base_url:
        raise MedldrError("openai-compatible: pass --base-url (e.g. http://127.0.0.1:8000/v1 for a vLLM server)")
    if not base_url.startswith(("http://", "https://")):
        raise MedldrError(f"--base-url {base_url!r}: give an http:// or https:// URL")
    return base_url
