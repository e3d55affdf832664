"""The OpenAI chat-completions wire format, shared by the SDK route (hosted APIs) and the aiohttp route (self-hosted
servers): the request body, the answer read back, and what an error answer says about retrying."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlparse

from medldr.answer import split_reasoning
from medldr.errors import MedldrError
from medldr.run.params import GenerationParams
from medldr.run.providers.base import Completion, Message, finish_reason, redact_url


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


def should_retry(headers: Any) -> bool | None:
    """The server's own ``x-should-retry`` verdict, when it gives one.

    >>> should_retry({"x-should-retry": "false"}), should_retry({})
    (False, None)
    """
    value = {k.lower(): v for k, v in headers.items()}.get("x-should-retry")
    return None if value is None else value.lower() == "true"


RETRY_STATUS = frozenset({408, 409, 429})  # and every 5xx


def transient(status: int, headers: Any) -> bool:
    """Whether an HTTP error answer may succeed when asked again: the server's ``x-should-retry`` first, then
    408/409/429 and every 5xx (the official SDKs' rule).

    >>> transient(503, {}), transient(400, {}), transient(500, {"x-should-retry": "false"})
    (True, False, False)
    """
    said = should_retry(headers)
    return said if said is not None else status in RETRY_STATUS or status >= 500


class SDKRetryRules:
    """``retryable`` / ``retry_after`` for an official SDK's exceptions (openai's and anthropic's share a shape: a
    status error with ``status_code`` and ``response.headers``; connection errors and timeouts are transient)."""

    fatal_errors: tuple[type[BaseException], ...] = ()
    status_error: tuple[type[BaseException], ...] = ()  # the SDK's status error class, set once it is imported

    def retryable(self, err: BaseException) -> bool:
        if isinstance(err, self.fatal_errors):
            return False
        if isinstance(err, self.status_error):
            return transient(err.status_code, err.response.headers)  # type: ignore[attr-defined]
        return True

    def retry_after(self, err: BaseException) -> float | None:
        return retry_after(err.response.headers) if isinstance(err, self.status_error) else None  # type: ignore[attr-defined]


def _choice_completion(choice: Any, model: str | None) -> Completion:
    try:
        message = choice["message"]
    except (KeyError, TypeError):
        raise ValueError(f"not a chat completion choice: {str(choice)[:200]}") from None
    text = message.get("content") or ""
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning is None:
        text, reasoning = split_reasoning(text)
    return Completion(text, reasoning, finish_reason(choice.get("finish_reason")), {}, model)


def _usage(counts: dict[str, Any]) -> dict[str, int]:
    usage = {
        "prompt_tokens": counts.get("prompt_tokens") or 0,
        "completion_tokens": counts.get("completion_tokens") or 0,
    }
    reasoning_tokens = (counts.get("completion_tokens_details") or {}).get("reasoning_tokens")
    if reasoning_tokens:
        usage["reasoning_tokens"] = reasoning_tokens
    return usage


def shares(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders, so the parts sum to ``total``).

    >>> shares(10, [1, 1, 1]), shares(7, [0, 0]), shares(5, [3, 1])
    ([4, 3, 3], [4, 3], [4, 1])
    """
    if not weights:
        return []
    if sum(weights) <= 0:
        weights = [1] * len(weights)
    exact = [total * w / sum(weights) for w in weights]
    parts = [int(x) for x in exact]
    for i in sorted(range(len(exact)), key=lambda i: (parts[i] - exact[i], i))[: total - sum(parts)]:
        parts[i] += 1
    return parts


def completions_from_body(body: dict[str, Any]) -> list[Completion]:
    """A chat completion's JSON -> one Completion per choice, in choice order. Reasoning from ``reasoning_content``
    (DeepSeek, vLLM), ``reasoning`` (some servers) or a leading ``<think>`` block in the text. Servers report one
    usage per request: with several choices (``n``) the prompt tokens go to the first and the completion tokens are
    shared in proportion to each choice's characters, so totals stay exact. A body without a choice is an error."""
    try:
        choices = sorted(body["choices"], key=lambda c: c.get("index", 0))
        if not choices:
            raise IndexError
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ValueError(f"not a chat completion: {str(body)[:200]}") from None
    completions = [_choice_completion(choice, body.get("model")) for choice in choices]
    counts = body.get("usage") or {}
    if counts:
        usage = _usage(counts)
        sizes = [len(c.text) + len(c.reasoning or "") for c in completions]
        for i, (completion, tokens) in enumerate(
            zip(completions, shares(usage["completion_tokens"], sizes), strict=True)
        ):
            completion.usage = {"prompt_tokens": usage["prompt_tokens"] if i == 0 else 0, "completion_tokens": tokens}
        if "reasoning_tokens" in usage:
            sizes = [len(c.reasoning or "") for c in completions]
            for completion, tokens in zip(completions, shares(usage["reasoning_tokens"], sizes), strict=True):
                if tokens:
                    completion.usage["reasoning_tokens"] = tokens
    return completions


def completion_from_body(body: dict[str, Any]) -> Completion:
    """A one-choice chat completion's JSON -> our Completion (``completions_from_body``)."""
    return completions_from_body(body)[0]


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


def check_base_url(base_url: str | None) -> str:
    """An http(s) URL with a host and a valid port, refused in one line before anything is sent (every provider's
    ``--base-url`` passes here, the judge's too)."""
    if not base_url:
        raise MedldrError("openai-compatible: pass --base-url (e.g. http://127.0.0.1:8000/v1 for a vLLM server)")
    try:
        shown = repr(redact_url(base_url))
        parts = urlparse(base_url)
        port = parts.port  # raises for a port outside 0-65535
    except ValueError as err:
        raise MedldrError(f"--base-url: not a URL ({err})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MedldrError(f"--base-url {shown}: expected http(s)://HOST[:PORT]/PATH")
    if port == 0:
        raise MedldrError(f"--base-url {shown}: port 0 is not a server's port")
    return base_url
