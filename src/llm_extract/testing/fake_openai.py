"""A loopback fake OpenAI-compatible server for fault injection and throughput benchmarks.

It answers POST /v1/chat/completions on 127.0.0.1 with a scripted or random mix of faults, and
a schema-valid answer on the happy path. It reads no article and its answers carry no facts:
use it to test transport and validation handling, never to measure extraction quality.

Faults:
  ok            200 with a valid chat completion whose content is `answer`
  rate_limit    429 with Retry-After: 0        rate_limit_bare  429 without Retry-After
  server_error  500                            unavailable      503
  slow          sleeps `slow_s` seconds, then answers ok (past a short client timeout)
  drop          closes the connection without answering
  garbage       200 with a body that is not JSON
  cut_body      200 whose body stops halfway, then the connection closes (Content-Length promised more)
  truncated     200 whose completion content is cut-off JSON
  invalid       200 with `invalid_answer`: valid JSON that violates the schema
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = (
    "ok", "rate_limit", "rate_limit_bare", "server_error", "unavailable", "slow", "drop", "garbage", "cut_body",
    "truncated", "invalid",
)  # fmt: skip
DEFAULT_ANSWER = json.dumps({"attacks": [], "incidents": []})  # schema-valid for incident_v1
INVALID_ANSWER = json.dumps({"incidents": [{"role": "protagonist"}]})


def fault_mix(rate: float) -> dict[str, float]:
    """`rate` of requests faulty, spread evenly over every fault; the rest answered ok."""
    faults = [fault for fault in FAULTS if fault != "ok"]
    return {"ok": 1.0 - rate, **{fault: rate / len(faults) for fault in faults}}


class _Server(ThreadingHTTPServer):
    """The stdlib's listen backlog of 5 refuses connections at high concurrency before any request is read:
    faults nobody injected, which would also cap throughput benchmarks."""

    request_queue_size = 1024
    daemon_threads = True


class FakeOpenAI:
    """`with FakeOpenAI(script=["rate_limit", "ok"]) as fake: fake.base_url`.

    `script` is consumed in order, one fault per request; after it runs out, faults are drawn from
    `mix` (weights by name) with `seed`, or `ok` if no mix is given. `latency_s` delays every answer.
    """

    def __init__(
        self,
        script: Iterable[str] = (),
        mix: dict[str, float] | None = None,
        seed: int = 0,
        latency_s: float = 0.0,
        slow_s: float = 5.0,
        answer: str = DEFAULT_ANSWER,
        invalid_answer: str = INVALID_ANSWER,
    ) -> None:
        self.script = list(script)
        unknown = [fault for fault in [*self.script, *(mix or {})] if fault not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; choose from {FAULTS}")
        self.mix = mix
        self.random = random.Random(seed)
        self.latency_s = latency_s
        self.slow_s = slow_s
        self.answer = answer
        self.invalid_answer = invalid_answer
        self.served: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def next_fault(self) -> str:
        with self._lock:
            if self.script:
                fault = self.script.pop(0)
            elif self.mix:
                fault = self.random.choices(list(self.mix), weights=list(self.mix.values()))[0]
            else:
                fault = "ok"
            self.served[fault] += 1
            return fault

    def completion(self, content: str, prompt_tokens: int = 100, completion_tokens: int = 20) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "fake",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length) or b"{}")
                if self.path != "/v1/chat/completions":
                    self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())
                    return
                with fake._lock:
                    fake.requests.append(payload)
                fault = fake.next_fault()
                if fake.latency_s:
                    time.sleep(fake.latency_s)
                error = json.dumps({"error": {"message": f"injected {fault}", "type": fault}}).encode()
                if fault == "rate_limit":
                    self._send(429, error, {"Retry-After": "0"})
                elif fault == "rate_limit_bare":
                    self._send(429, error)
                elif fault == "server_error":
                    self._send(500, error)
                elif fault == "unavailable":
                    self._send(503, error)
                elif fault == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                elif fault == "garbage":
                    self._send(200, b"<html>502 Bad Gateway</html> not json")
                elif fault == "cut_body":
                    body = json.dumps(fake.completion(fake.answer)).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                elif fault == "truncated":
                    self._send(200, json.dumps(fake.completion(fake.answer[: len(fake.answer) // 2])).encode())
                elif fault == "invalid":
                    self._send(200, json.dumps(fake.completion(fake.invalid_answer)).encode())
                else:
                    if fault == "slow":
                        time.sleep(fake.slow_s)
                    self._send(200, json.dumps(fake.completion(fake.answer)).encode())

        return Handler

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
