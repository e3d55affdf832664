"""Runner overhead: requests/s against a local server that answers instantly, and the bundled model's cases/minute.

    python bench/harness.py                       # 2000 requests at concurrency 64, then 3 cases on the local model
    python bench/harness.py --requests 5000 --concurrency 128 --local-cases 0
    python bench/harness.py --pools 1,2,4 --kill-after 2 --concurrency 64   # endpoint pools of stand-in replicas

The server is a minimal asyncio HTTP/1.1 server in its own process (so it does not share the harness's GIL), keeping
connections alive and answering every POST with one fixed chat completion. Every answer still goes through the full
path: prompt building, the HTTP client, parsing, extraction and an fsync'd append. Goal: >= 1000 requests/s on 2 cores.
``--route sdk`` sends through the official openai SDK instead (``openai:MODEL --base-url``), for comparison.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from medldr.assemble import BuildConfig, build_cases
from medldr.run import GenerationParams, RunSettings, run_cases
from medldr.schema import read_cases, write_cases
from medldr.sources import open_demo

BODY = json.dumps(
    {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": '{"top10": ["5849", "486"], "predictions": ["5849"]}'},
            }
        ],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 20, "total_tokens": 1020},
    }
).encode()


def serve(port: int, service_ms: float = 0.0, slots: int = 0) -> None:
    """An asyncio Protocol (no stream objects per connection): the server should cost as little CPU as it can,
    since it shares the 2 cores with the harness it measures. ``service_ms`` > 0 makes it a stand-in for a GPU
    replica: each answer takes that long and at most ``slots`` are computed at once (its batch), so one replica's
    capacity is slots / service time and a pool's is the sum."""
    import asyncio

    gate: asyncio.Semaphore | None = None
    pending: set[asyncio.Future] = set()  # answers being computed (a reference keeps each alive)

    response = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(BODY)).encode()
        + b"\r\nConnection: keep-alive\r\n\r\n"
        + BODY
    )

    class Answer(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport, self.buffer = transport, bytearray()

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while True:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(self.buffer[:end]).lower()
                at = head.find(b"content-length:")
                length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
                if len(self.buffer) < end + 4 + length:
                    return
                del self.buffer[: end + 4 + length]
                if service_ms <= 0:
                    self.transport.write(response)  # type: ignore[attr-defined]
                else:
                    pending.add(task := asyncio.ensure_future(self.later()))
                    task.add_done_callback(pending.discard)

        async def later(self) -> None:
            assert gate is not None
            async with gate:
                await asyncio.sleep(service_ms / 1000)
            if not self.transport.is_closing():
                self.transport.write(response)  # type: ignore[attr-defined]

    async def main() -> None:
        nonlocal gate
        gate = asyncio.Semaphore(max(slots, 1))
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Answer, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def many_cases(folder: Path, n: int) -> Path:
    """The demo's inference cases repeated with fresh ids up to ``n``, beside the demo's build manifest."""
    build_cases(open_demo(), folder, BuildConfig())
    base = read_cases(folder / "inference.jsonl")
    cases = []
    for i in range(n):
        case = base[i % len(base)].model_copy(deep=True)
        subject, hadm, stay = case.case_id.split("/")
        case.case_id = f"{subject}{i:06d}/{hadm}/{stay}"
        cases.append(case)
    path = folder / "bench.jsonl"
    write_cases(path, cases)
    return path


def start_servers(n: int, service_ms: float, slots: int) -> tuple[list[multiprocessing.Process], str]:
    ports = [free_port() for _ in range(n)]
    servers = [multiprocessing.Process(target=serve, args=(p, service_ms, slots), daemon=True) for p in ports]
    for server in servers:
        server.start()
    time.sleep(0.5)
    return servers, ",".join(f"http://127.0.0.1:{p}/v1" for p in ports)


def pool_run(cases: Path, out: Path, n: int, args: argparse.Namespace, kill_after: float | None = None) -> str:
    """A run through a pool of ``n`` replicas (requests/s), or with one replica killed after ``kill_after`` s
    (answered / expected / duplicated)."""
    servers, urls = start_servers(n, args.service_ms, args.slots)
    settings = RunSettings(
        cases_file=cases, out=out, model="vllm:bench", base_url=urls, task="lab_num+", rounds=1,
        concurrency=args.concurrency, timeout=5,
    )  # fmt: skip
    killer = threading.Timer(kill_after, servers[-1].kill) if kill_after is not None else None
    try:
        if killer:
            killer.start()
        start = time.perf_counter()
        manifest = run_cases(settings)
        seconds = time.perf_counter() - start
    finally:
        for server in servers:
            server.kill()
    answers = int(manifest.totals["answers"])
    per_endpoint = [e["answers"] for e in manifest.endpoints or []]
    if kill_after is None:
        rate = answers / seconds
        return f"pool of {n}: {rate:.0f} requests/s ({answers} in {seconds:.2f} s; per replica {per_endpoint})"
    records = [json.loads(line) for line in (out / "responses.jsonl").read_text().splitlines()[1:]]
    pairs = Counter((r["case_id"], r["round"]) for r in records if not r.get("error"))
    expected = manifest.identity["n_cases"]
    return (
        f"pool of {n}, replica {n} killed after {kill_after:g} s: answered {len(pairs)} / expected {expected} / "
        f"duplicated {sum(c > 1 for c in pairs.values())} (per replica {per_endpoint}, {seconds:.2f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--local-cases", type=int, default=3)
    parser.add_argument(
        "--route",
        choices=("server", "sdk"),
        default="server",
        help="server: openai-compatible:MODEL (aiohttp); sdk: openai:MODEL --base-url (the openai SDK)",
    )
    parser.add_argument("--pools", default="", help="comma list of pool sizes to compare, e.g. 1,2,4")
    parser.add_argument("--service-ms", type=float, default=50.0, help="with --pools: each answer's time on a replica")
    parser.add_argument("--slots", type=int, default=8, help="with --pools: answers a replica computes at once")
    parser.add_argument("--kill-after", type=float, default=None, help="with --pools: kill one replica after N s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases = many_cases(Path(tmp) / "cases", args.requests)
        if args.pools:
            sizes = [int(x) for x in args.pools.split(",")]
            for n in sizes:
                print(pool_run(cases, Path(tmp) / f"pool{n}", n, args))
            if args.kill_after is not None:
                print(pool_run(cases, Path(tmp) / "killed", max(sizes), args, kill_after=args.kill_after))
            return
        port = free_port()
        server = multiprocessing.Process(target=serve, args=(port,), daemon=True)
        server.start()
        time.sleep(0.5)
        model = "openai-compatible:bench" if args.route == "server" else "openai:bench"
        try:
            settings = RunSettings(
                cases_file=cases,
                out=Path(tmp) / "run",
                model=model,
                base_url=f"http://127.0.0.1:{port}/v1",
                task="lab_num+",
                rounds=1,
                concurrency=args.concurrency,
            )
            start, cpu = time.perf_counter(), time.process_time()
            manifest = run_cases(settings)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        finally:
            server.terminate()
        answers = int(manifest.totals["answers"])
        print(
            f"harness: {answers} requests in {seconds:.2f} s = {answers / seconds:.0f} requests/s "
            f"({model}, concurrency {args.concurrency}, fsync per answer); harness CPU {cpu / answers * 1000:.2f} ms "
            "per request, set-up included"
        )
        if args.local_cases:
            settings = RunSettings(
                cases_file=Path(tmp) / "cases" / "inference.jsonl",
                out=Path(tmp) / "local",
                model="local",
                task="lab_num+",
                rounds=1,
                concurrency=1,
                limit=args.local_cases,
                params=GenerationParams(temperature=0.7, seed=0, max_tokens=256),
            )
            start = time.perf_counter()
            manifest = run_cases(settings)
            seconds = time.perf_counter() - start
            per_minute = manifest.totals["answers"] / seconds * 60
            print(
                f"bundled model: {int(manifest.totals['answers'])} cases in {seconds:.1f} s = {per_minute:.1f} "
                f"cases/min ({manifest.totals['prompt_tokens'] / manifest.totals['answers']:.0f} prompt tokens "
                "per case, model load included)"
            )


if __name__ == "__main__":
    main()
