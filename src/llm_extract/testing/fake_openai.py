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
  html          200 text/html: a login or proxy page instead of a completion
  error_object  200 application/json holding {"error": {...}} instead of a completion
  sse           200 text/event-stream (`data: ...` lines) although no stream was asked for
  retry_after_huge      429 with Retry-After: 99999
  retry_after_date      429 with Retry-After: an HTTP date three days out
  retry_after_negative  429 with Retry-After: -7
  retry_after_junk      429 with Retry-After: soon
  retry_after_nan       429 with Retry-After: nan
  trickle       a valid answer sent one byte every `trickle_s` seconds (a per-read timeout never fires)
  echo_auth     500 (or 401 with `echo_status=401`) whose body echoes the request's Authorization header

GET /v1/models answers a one-model list (the client's preflight) with status `models_status`, counted in `calls`,
never a fault.

The Batch API, enough for llm_extract.runs.batch_api: POST /v1/files (multipart upload), POST /v1/batches,
GET /v1/batches/{id} (validating, then in_progress, then completed: `batch_polls` retrieves before it ends, with
status `batch_final`), GET /v1/files/{id}/content. Each input line is answered with the normal answer logic,
its fault taken from `batch_script` (in line order; `ok` after it runs out):
  ok            a completion whose content is `answer`
  invalid       a completion whose content is `invalid_answer`
  truncated     a completion whose content is cut-off JSON
  error         no answer: an entry in the error file
With `batch_final="expired"` (or failed/cancelled), no line is answered: every document must be done again.
Batch lines are kept in `batch_requests`, apart from `requests` (the chat calls); `calls` counts every route.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import default as email_policy
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = (
    "ok", "rate_limit", "rate_limit_bare", "server_error", "unavailable", "slow", "drop", "garbage", "cut_body",
    "truncated", "invalid", "html", "error_object", "sse", "retry_after_huge", "retry_after_date",
    "retry_after_negative", "retry_after_junk", "retry_after_nan", "trickle", "echo_auth",
)  # fmt: skip
RETRY_AFTER = {"retry_after_huge": "99999", "retry_after_negative": "-7", "retry_after_junk": "soon",
               "retry_after_nan": "nan"}  # fmt: skip
BATCH_FAULTS = ("ok", "invalid", "truncated", "error")
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

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out break the pipe of a `slow` answer: expected here, not worth a traceback."""


class FakeOpenAI:
    """`with FakeOpenAI(script=["rate_limit", "ok"]) as fake: fake.base_url`.

    `script` is consumed in order, one fault per request; after it runs out, faults are dealt from `mix`
    (weights by name), or `ok` if no mix is given. `latency_s` delays every answer.

    The mix is dealt by smooth weighted round-robin from a `seed`-drawn starting point, not drawn at random:
    every fault then comes up in proportion, within one, after any number of requests (with 20 kinds of fault,
    random draws over a few hundred requests leave some kinds out by chance, and a test of "every fault" fails).
    """

    def __init__(
        self,
        script: Iterable[str] = (),
        mix: dict[str, float] | None = None,
        seed: int = 0,
        latency_s: float = 0.0,
        slow_s: float = 5.0,
        trickle_s: float = 1.0,
        echo_status: int = 500,
        models_status: int = 200,
        answer: str = DEFAULT_ANSWER,
        invalid_answer: str = INVALID_ANSWER,
        batch_script: Iterable[str] = (),
        batch_polls: int = 2,
        batch_final: str = "completed",
    ) -> None:
        self.script = list(script)
        unknown = [fault for fault in [*self.script, *(mix or {})] if fault not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; choose from {FAULTS}")
        self.batch_script = list(batch_script)
        if unknown := [fault for fault in self.batch_script if fault not in BATCH_FAULTS]:
            raise ValueError(f"unknown batch faults {unknown}; choose from {BATCH_FAULTS}")
        self.batch_polls = batch_polls
        self.batch_final = batch_final
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_requests: list[dict[str, Any]] = []
        self.batch_served: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.mix = mix
        self.random = random.Random(seed)
        total = sum((mix or {}).values()) or 1.0
        self._credit = {fault: self.random.random() * total for fault in (mix or {})}  # the seed sets the phase
        self.latency_s = latency_s
        self.slow_s = slow_s
        self.trickle_s = trickle_s
        self.echo_status = echo_status
        self.models_status = models_status
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
                fault = self._deal()
            else:
                fault = "ok"
            self.served[fault] += 1
            return fault

    def _deal(self) -> str:
        """Smooth weighted round-robin: each fault earns its weight per request; the richest is served and pays
        the total. Over n requests a fault of weight w comes up n*w times, within one."""
        assert self.mix
        total = sum(self.mix.values())
        for fault, weight in self.mix.items():
            self._credit[fault] += weight
        fault = max(self._credit, key=self._credit.__getitem__)
        self._credit[fault] -= total
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

    def _new_file(self, data: bytes, filename: str, purpose: str) -> dict[str, Any]:
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = {
            "id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
            "filename": filename, "purpose": purpose, "status": "processed", "data": data,
        }  # fmt: skip
        return self.files[file_id]

    @staticmethod
    def _public(file: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in file.items() if key != "data"}

    def _create_batch(self, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("input_file_id") not in self.files:
            raise KeyError(payload.get("input_file_id"))
        batch_id = f"batch_{len(self.batches) + 1}"
        self.batches[batch_id] = {
            "id": batch_id, "object": "batch", "endpoint": payload.get("endpoint"),
            "input_file_id": payload["input_file_id"], "completion_window": payload.get("completion_window"),
            "status": "validating", "created_at": int(time.time()), "output_file_id": None, "error_file_id": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0}, "polls": 0,
        }  # fmt: skip
        return self.batches[batch_id]

    def _advance_batch(self, batch: dict[str, Any]) -> None:
        """One retrieve: validating -> in_progress -> ... -> the final status after `batch_polls` retrieves."""
        batch["polls"] += 1
        if batch["status"] in ("completed", "failed", "expired", "cancelled"):
            return
        if batch["polls"] < self.batch_polls:
            batch["status"] = "in_progress"
            return
        lines = [json.loads(line) for line in self.files[batch["input_file_id"]]["data"].splitlines() if line.strip()]
        batch["status"] = self.batch_final
        batch["request_counts"]["total"] = len(lines)
        if self.batch_final != "completed":
            batch["request_counts"]["failed"] = len(lines)
            return
        outputs, errors = [], []
        for index, line in enumerate(lines):
            self.batch_requests.append(line)
            fault = self.batch_script.pop(0) if self.batch_script else "ok"
            self.batch_served[fault] += 1
            entry: dict[str, Any] = {"id": f"batch_req_{index}", "custom_id": line["custom_id"]}
            if fault == "error":
                errors.append({**entry, "response": None, "error": {"code": "server_error", "message": "injected"}})
                continue
            truncated = self.answer[: len(self.answer) // 2]
            content = {"ok": self.answer, "invalid": self.invalid_answer}.get(fault, truncated)
            body = self.completion(content)
            outputs.append({**entry, "response": {"status_code": 200, "request_id": entry["id"], "body": body},
                            "error": None})  # fmt: skip
        batch["request_counts"].update(completed=len(outputs), failed=len(errors))
        for kind, entries in (("output", outputs), ("error", errors)):
            if entries:
                data = "".join(json.dumps(item) + "\n" for item in entries).encode()
                batch[f"{kind}_file_id"] = self._new_file(data, f"batch_{kind}.jsonl", f"batch_{kind}")["id"]

    @staticmethod
    def _batch_view(batch: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in batch.items() if key != "polls"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle's algorithm on, the body waited for the client's
            # delayed ACK, about 40 ms an answer that no real server adds (they set TCP_NODELAY too).
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(
                self, status: int, body: bytes, headers: dict[str, str] | None = None, kind: str = "application/json"
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _trickle(self, body: bytes) -> None:
                """Headers at once, then one byte per `trickle_s`: every read succeeds, the answer never ends."""
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.flush()
                try:
                    for index in range(len(body)):
                        self.wfile.write(body[index : index + 1])
                        self.wfile.flush()
                        time.sleep(fake.trickle_s)
                except OSError:  # the client gave up: expected
                    self.close_connection = True

            def _not_found(self) -> None:
                self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())

            def _upload(self, raw: bytes) -> None:
                head = f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode()
                message = BytesParser(policy=email_policy).parsebytes(head + raw)
                fields: dict[str, Any] = {}
                for part in message.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    if isinstance(name, str):  # a form field's name (only "file" and "purpose" are read)
                        fields[name] = (part.get_filename(), part.get_payload(decode=True))
                if "file" not in fields or "purpose" not in fields:
                    self._send(400, json.dumps({"error": {"message": "need file and purpose"}}).encode())
                    return
                filename, data = fields["file"]
                with fake._lock:
                    file = fake._new_file(data, filename or "upload", fields["purpose"][1].decode())
                self._send(200, json.dumps(fake._public(file)).encode())

            def do_GET(self) -> None:
                parts = self.path.split("?")[0].strip("/").split("/")
                with fake._lock:
                    fake.calls[f"GET /{'/'.join(parts[:2])}"] += 1
                    if parts == ["v1", "models"]:
                        models: dict[str, Any] = {
                            "object": "list",
                            "data": [{"id": "fake", "object": "model", "owned_by": "fake"}],
                        }
                        if fake.models_status != 200:
                            models = {"error": {"message": f"models: HTTP {fake.models_status}"}}
                        self._send(fake.models_status, json.dumps(models).encode())
                        return
                    if parts[:2] == ["v1", "batches"] and len(parts) == 3 and parts[2] in fake.batches:
                        batch = fake.batches[parts[2]]
                        fake._advance_batch(batch)
                        body = json.dumps(fake._batch_view(batch)).encode()
                    elif parts[:2] == ["v1", "files"] and len(parts) == 4 and parts[3] == "content":
                        if parts[2] not in fake.files:
                            body = b""
                        else:
                            self._send(200, fake.files[parts[2]]["data"], {"X-Kind": "content"})
                            return
                    else:
                        body = b""
                if not body:
                    self._not_found()
                    return
                self._send(200, body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                with fake._lock:
                    fake.calls[f"POST {self.path}"] += 1
                if self.path == "/v1/files":
                    self._upload(raw)
                    return
                payload = json.loads(raw or b"{}")
                if self.path == "/v1/batches":
                    with fake._lock:
                        try:
                            batch = fake._create_batch(payload)
                        except KeyError:
                            batch = None
                    if batch is None:
                        self._send(400, json.dumps({"error": {"message": "unknown input_file_id"}}).encode())
                    else:
                        self._send(200, json.dumps(fake._batch_view(batch)).encode())
                    return
                if self.path != "/v1/chat/completions":
                    self._not_found()
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
                elif fault in RETRY_AFTER:
                    self._send(429, error, {"Retry-After": RETRY_AFTER[fault]})
                elif fault == "retry_after_date":
                    later = format_datetime(datetime.now(UTC) + timedelta(days=3), usegmt=True)
                    self._send(429, error, {"Retry-After": later})
                elif fault == "html":
                    page = b"<!DOCTYPE html><html><body><h1>Sign in</h1><p>Session expired.</p></body></html>"
                    self._send(200, page, kind="text/html; charset=utf-8")
                elif fault == "error_object":
                    self._send(200, error)
                elif fault == "sse":
                    chunk = {**fake.completion(fake.answer), "object": "chat.completion.chunk"}
                    stream = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
                    self._send(200, stream, kind="text/event-stream")
                elif fault == "echo_auth":
                    said = f"bad credentials: Authorization: {self.headers.get('Authorization')}"
                    echoed = {"error": {"message": said, "headers": dict(self.headers.items())}}
                    self._send(fake.echo_status, json.dumps(echoed).encode())
                elif fault == "trickle":
                    self._trickle(json.dumps(fake.completion(fake.answer)).encode())
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
