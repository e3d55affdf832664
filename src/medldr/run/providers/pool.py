"""Several replicas of one model behind one provider (``--base-url`` given more than once): vLLM or SGLang servers on
several GPUs or nodes, or llama.cpp servers. Not a scheduler: each request goes to the replica with the fewest
requests in flight (a slow replica holds its requests longer, so it is given fewer), which is how vLLM's and SGLang's
own routers balance. One ``complete`` is still one request to one replica; the runner owns retries, so a request
that fails on a replica is asked again, and the pool sends it to another.

A replica that fails its health check (``GET /models``), refuses connections or fails ``EJECT_AFTER`` requests in a
row is taken out; after a cool-down (doubling while it stays down, at most ``MAX_COOLDOWN_S``) a health check lets it
back in. Only when every replica is out and none passes a fresh check does the run stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from medldr.errors import MedldrError
from medldr.run.params import GenerationParams
from medldr.run.providers.base import Completion, Message, Provider, redact_url
from medldr.run.providers.openai_http import EndpointRefused, OpenAIServer, ServerDown

EJECT_AFTER = 3
FIRST_COOLDOWN_S = 1.0
MAX_COOLDOWN_S = 60.0
HEALTH_TIMEOUT_S = 5.0


class EndpointDown(Exception):
    """A replica was unreachable: retryable, since the pool sends the next attempt to another one."""


class NoEndpoint(MedldrError):
    """Every replica of the pool is out and none passes a health check: the run stops."""


@dataclass
class Endpoint:
    server: OpenAIServer
    in_flight: int = 0
    sent: int = 0
    failures_in_row: int = 0
    out_until: float | None = None  # taken out until then (monotonic seconds)
    cooldown: float = FIRST_COOLDOWN_S
    why_out: str | None = None
    checking: bool = False

    @property
    def url(self) -> str:
        return str(redact_url(self.server.base_url))


class EndpointPool(Provider):
    """Replicas of one model (every one an OpenAI-compatible server of the same kind)."""

    samples_per_request = True

    def __init__(self, servers: Sequence[OpenAIServer]) -> None:
        if len({type(s) for s in servers}) != 1 or len({s.model for s in servers}) != 1:
            raise MedldrError("--base-url: every endpoint of a pool serves the same model through the same route")
        self.endpoints = [Endpoint(s) for s in servers]
        first = servers[0]
        self.name, self.model = first.name, first.model
        self.zero_retention = all(s.zero_retention for s in servers)
        self.fatal_errors = (EndpointRefused, NoEndpoint)
        self._started: asyncio.Task[None] | None = None

    @property
    def urls(self) -> list[str]:
        return [e.url for e in self.endpoints]

    def retryable(self, err: BaseException) -> bool:
        if isinstance(err, EndpointDown):
            return True
        return not isinstance(err, self.fatal_errors) and self.endpoints[0].server.retryable(err)

    def retry_after(self, err: BaseException) -> float | None:
        return self.endpoints[0].server.retry_after(err)

    async def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        return (await self._send(lambda server: _one(server, messages, params)))[0]

    async def complete_many(self, messages: list[Message], params: GenerationParams, n: int) -> list[Completion]:
        return await self._send(lambda server: server.complete_many(messages, params, n))

    async def _send(self, call: Any) -> list[Completion]:
        endpoint = await self._pick()
        endpoint.in_flight += 1
        try:
            completions = await call(endpoint.server)
        except ServerDown:
            self._take_out(endpoint, "connection refused")
            raise EndpointDown(f"{endpoint.url}: connection refused; taken out of the pool") from None
        except EndpointRefused:
            raise
        except BaseException as err:  # a timeout (cancellation) counts against the replica too
            endpoint.failures_in_row += 1
            if endpoint.failures_in_row >= EJECT_AFTER:
                self._take_out(endpoint, f"{endpoint.failures_in_row} failures in a row ({type(err).__name__})")
            raise
        finally:
            endpoint.in_flight -= 1
        endpoint.failures_in_row = 0
        for completion in completions:
            completion.endpoint = endpoint.url
        return completions

    def _take_out(self, endpoint: Endpoint, why: str) -> None:
        if endpoint.out_until is None:
            endpoint.out_until = time.monotonic() + endpoint.cooldown
            endpoint.cooldown = min(endpoint.cooldown * 2, MAX_COOLDOWN_S)
        endpoint.why_out, endpoint.failures_in_row = why, 0

    async def _check(self, endpoint: Endpoint) -> None:
        """Health-check a replica (once at a time): back in when it answers, out for longer when it does not."""
        if endpoint.checking:
            return
        endpoint.checking = True
        try:
            why = await endpoint.server.healthy(HEALTH_TIMEOUT_S)
        finally:
            endpoint.checking = False
        if why is None:
            endpoint.out_until, endpoint.why_out, endpoint.cooldown = None, None, FIRST_COOLDOWN_S
        else:
            endpoint.out_until = None
            self._take_out(endpoint, f"health check: {why}")

    async def _start(self) -> None:
        await asyncio.gather(*(self._check(e) for e in self.endpoints))

    async def _pick(self) -> Endpoint:
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        await asyncio.shield(self._started)
        now = time.monotonic()
        due = [e for e in self.endpoints if e.out_until is not None and e.out_until <= now and not e.checking]
        if due:
            await asyncio.gather(*(self._check(e) for e in due))
        live = [e for e in self.endpoints if e.out_until is None]
        if not live:  # every replica out: one fresh check of all before giving up
            await asyncio.gather(*(self._check(e) for e in self.endpoints if not e.checking))
            live = [e for e in self.endpoints if e.out_until is None]
        if not live:
            reasons = "; ".join(f"{e.url}: {e.why_out}" for e in self.endpoints)
            raise NoEndpoint(f"no endpoint of the pool answers ({reasons})")
        chosen = min(live, key=lambda e: (e.in_flight, e.failures_in_row, e.sent))
        chosen.sent += 1
        return chosen

    async def aclose(self) -> None:
        for endpoint in self.endpoints:
            await endpoint.server.aclose()


async def _one(server: OpenAIServer, messages: list[Message], params: GenerationParams) -> list[Completion]:
    return [await server.complete(messages, params)]


def split_urls(base_url: str | None) -> list[str]:
    """``--base-url`` values: each may be a comma list.

    >>> split_urls("http://a:1/v1, http://b:2/v1"), split_urls(None)
    (['http://a:1/v1', 'http://b:2/v1'], [])
    """
    return [u.strip() for u in (base_url or "").split(",") if u.strip()]
