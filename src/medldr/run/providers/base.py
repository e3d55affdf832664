"""The one interface every provider implements, and what it returns."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import urlparse
from urllib.request import getproxies_environment, proxy_bypass_environment

from medldr.errors import MedldrError
from medldr.run.params import GenerationParams

FinishReason = Literal["stop", "length", "content_filter", "tool_calls", "other"]
Message = dict[str, str]
T = TypeVar("T")


@dataclass
class Completion:
    """One answer: the text (without reasoning), the reasoning captured separately, why it stopped, token usage."""

    text: str
    reasoning: str | None = None
    finish_reason: FinishReason | None = None
    usage: dict[str, int] = field(default_factory=dict)
    model: str | None = None
    endpoint: str | None = None  # which endpoint of a pool answered (None: the provider's only one)


@dataclass
class BatchState:
    """Where a submitted batch stands: the vendor's status word, whether it has ended, requests done of total."""

    status: str
    ended: bool
    done: int = 0
    total: int = 0


BatchResult = tuple[str, "Completion | str"]
"""(custom id, its answer or, for a request that failed inside the batch, the error text)."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: a container's or taskset's share, not the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class Provider:
    """A model endpoint: implement ``complete``; everything else is a declared capability with a default.

    The runner owns retries: it asks ``retryable`` whether a failed attempt may be tried again and ``retry_after``
    how long the endpoint asked it to wait, bounds each attempt by ``--timeout`` and stops the run on one of
    ``fatal_errors``. A provider therefore makes exactly one request per ``complete`` (SDK-internal retries off).
    """

    name: str = "provider"  # identifies the route in manifests and messages
    model: str = ""
    zero_retention: bool = False  # the data-use guard may send credentialed data here
    max_concurrency: int | None = None  # requests it can serve at once (None: as many as the runner sends)
    wants_answer_schema: bool = False  # takes ``params.json_schema`` (grammar-constrained answers)
    fatal_errors: tuple[type[BaseException], ...] = ()  # errors that stop the run: a wrong key, model or request
    default_max_tokens: int | None = None  # the answer limit it applies when none is given (None: the endpoint's)
    samples_per_request: bool = False  # takes ``n``: several answers to one prompt from one request (one prefill)
    batch_discount: float | None = None  # has a Batch API, at this share of the list price (None: no Batch API)

    def artifact(self) -> dict[str, Any] | None:
        """The local weights behind an in-process model (name, size, SHA-256); None for an endpoint."""
        return None

    async def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        """One request, one answer (or an exception)."""
        raise NotImplementedError

    async def complete_many(self, messages: list[Message], params: GenerationParams, n: int) -> list[Completion]:
        """One request, ``n`` answers to the same prompt (where ``samples_per_request``)."""
        raise NotImplementedError(f"{self.name} does not sample several answers in one request")

    def batch_line(self, custom_id: str, messages: list[Message], params: GenerationParams) -> dict[str, Any]:
        """One request of a batch input file, in the vendor's format."""
        raise NotImplementedError(f"{self.name} has no Batch API")

    async def batch_submit(self, input_file: Any, marker: str) -> str:
        """Submit the batch input file (``batch_line``s, one JSON per line); its id. ``marker`` tags it."""
        raise NotImplementedError

    async def batch_find(self, marker: str, since: float, count: int) -> str | None:
        """The id of a batch submitted with ``marker`` (after ``since``, of ``count`` requests) whose id was never
        recorded (a process killed while submitting), if the vendor shows one."""
        raise NotImplementedError

    async def batch_state(self, batch_id: str) -> BatchState:
        raise NotImplementedError

    async def batch_results(self, batch_id: str) -> list[BatchResult]:
        """Every request's answer or error of an ended batch (one per request it holds)."""
        raise NotImplementedError

    def count_tokens(self, messages: list[Message]) -> int | None:
        """The prompt's tokens by the model's own tokenizer, where one is on this machine; None: estimate them."""
        return None

    def retryable(self, err: BaseException) -> bool:
        """Whether another attempt may succeed: every error but the fatal ones, unless a subclass knows better."""
        return not isinstance(err, self.fatal_errors)

    def retry_after(self, err: BaseException) -> float | None:
        """Seconds the endpoint asked to wait before the next attempt (``Retry-After``), when it said."""
        return None

    async def aclose(self) -> None:
        """Release connections (in the event loop that made them)."""


class LoopClient(Provider):
    """A connection pool made lazily in the event loop that uses it (its connections belong to that loop) and closed
    by ``aclose`` in that loop; a later event loop gets a new one. Subclasses say how to make it."""

    _client: Any = None

    def _make_client(self) -> Any:
        raise NotImplementedError

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


class InProcess(Provider):
    """A model in this process: one request at a time (``max_concurrency``), always on the same worker thread.

    OpenMP runtimes (llama.cpp's, torch's) keep a thread team per calling thread; answers computed on whichever
    executor thread came next ran ~2x slower than on one thread (SmolLM2, 95 answer tokens on 2 cores: 3.4 s on one
    thread, 6.5 s after a switch). With one request in flight the recorded latency is the model's, not a queue's.
    """

    max_concurrency: int | None = 1
    zero_retention = True  # nothing leaves the machine
    # a model that cannot load or answer this request (a prompt longer than its context) will not do better next time
    fatal_errors: tuple[type[BaseException], ...] = (MedldrError, ValueError)
    _worker: ThreadPoolExecutor | None = None

    def _complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        raise NotImplementedError

    async def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"medldr-{type(self).__name__}")
        return await asyncio.get_running_loop().run_in_executor(self._worker, self._complete, messages, params)


def concurrency_for(provider: Provider, wanted: int) -> int:
    """The requests to keep in flight: what the user asked for, capped by what the provider can serve."""
    cap = provider.max_concurrency
    return max(1, wanted if cap is None else min(wanted, cap))


def finish_reason(value: str | None) -> FinishReason | None:
    """Map a vendor's stop reason to ours (Anthropic's ``max_tokens`` is our ``length``)."""
    if value is None:
        return None
    mapped = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}
    value = mapped.get(value, value)
    return value if value in ("stop", "length", "content_filter", "tool_calls") else "other"  # type: ignore[return-value]


_SECRET_NAME = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
_HEADER_SECRET = re.compile(
    r"""(?P<name>authorization|proxy-authorization|api-key|x-api-key)(?P<sep>["']?\s*[:=]\s*["']?)(?P<value>[^"'\s,}]+(?:\s+[^"'\s,}]+)?)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def error_text(err: BaseException, limit: int = 500) -> str:
    """An error as it may be written to a file: its type and message, with every secret removed (the values of the
    environment's key, token, secret and password variables, and any Authorization / api-key header value or bearer
    token a server echoed back), at most ``limit`` characters.

    >>> error_text(RuntimeError('400 {"echo": {"Authorization": "Bearer sk-abc123"}}'))
    'RuntimeError: 400 {"echo": {"Authorization": "[redacted]"}}'
    """
    text = f"{type(err).__name__}: {err}"
    for name, value in os.environ.items():
        if value and len(value) >= 8 and _SECRET_NAME.search(name):
            text = text.replace(value, "[redacted]")
    text = _HEADER_SECRET.sub(lambda m: f"{m['name']}{m['sep']}[redacted]", text)
    return _BEARER.sub(r"\1[redacted]", text)[:limit]


def redact_url(url: str | None) -> str | None:
    """A URL as it may be recorded: without any user:password part.

    >>> redact_url("http://user:secret@10.0.0.5:8000/v1"), redact_url(None)
    ('http://10.0.0.5:8000/v1', None)
    """
    if not url:
        return url
    try:
        parts = urlparse(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def _host(base_url: str | None) -> str:
    try:
        return (urlparse(base_url or "").hostname or "").lower()
    except ValueError:  # a malformed URL ("http://[::1") points nowhere we can vouch for
        return ""


def proxied(base_url: str | None) -> bool:
    """Whether requests to this URL would go through a proxy from the environment (``HTTP(S)_PROXY``, ``ALL_PROXY``,
    lower or upper case, minus ``NO_PROXY``), as the SDKs and aiohttp with ``trust_env`` send them: then the proxy,
    not the URL's host, receives the data."""
    if not base_url:
        return False
    scheme = urlparse(base_url).scheme.lower()
    proxies = getproxies_environment()
    if not (proxies.get(scheme) or proxies.get("all")):
        return False
    return not proxy_bypass_environment(_host(base_url))


def is_loopback(base_url: str | None) -> bool:
    """Whether a URL points at this machine (a server the user runs, so nothing leaves it): its host is ``localhost``
    or an IP literal in 127.0.0.0/8 or ::1 (a name that merely starts with "127." is not), and no proxy sits between.

    >>> is_loopback("http://127.0.0.1:8000/v1"), is_loopback("https://api.openai.com/v1"), is_loopback(None)
    (True, False, False)
    >>> is_loopback("http://127.0.0.1.nip.io:9/v1"), is_loopback("http://[::1]:8000/v1")
    (False, True)
    """
    host = _host(base_url)
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return False
        except ValueError:
            return False
    return not proxied(base_url)


AZURE_OPENAI_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com", ".openai.azure.us")
"""Azure OpenAI endpoint domains (the zero-retention route the data-use rule accepts for credentialed data)."""


def is_azure_openai(base_url: str | None) -> bool:
    """Whether a URL is an Azure OpenAI endpoint over https, reached directly (not any URL given to ``azure:``).

    >>> is_azure_openai("https://my-res.openai.azure.com/"), is_azure_openai("http://example.invalid:9/v1")
    (True, False)
    """
    if not base_url or urlparse(base_url).scheme.lower() != "https":
        return False
    return _host(base_url).endswith(AZURE_OPENAI_HOSTS) and not proxied(base_url)


async def closing(provider: Provider, work: Awaitable[T]) -> T:
    """Await ``work``, then close the provider's connections in the same event loop (where they live)."""
    try:
        return await work
    finally:
        await provider.aclose()
