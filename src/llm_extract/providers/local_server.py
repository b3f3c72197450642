"""The embedded llama.cpp server (xllamacpp) on 127.0.0.1, in a child process this run owns.

Started on a free port, health-checked, and stopped on exit, on Ctrl-C, and when the parent dies (the child
watches its parent), so no server outlives the process that started it. The library keeps one per Python
process between calls (SharedServer), so a notebook loads the weights once, not once per call.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Generic, TypeVar

import httpx

from llm_extract.core.errors import ServerStartError

MODEL_ALIAS = "local"
START_TIMEOUT_S = 180.0
# Slots decode several documents at once. Measured on 2 cores (bench/local_model.py, docs/benchmarks.md): 4
# slots gave 1.09x the articles per hour of one on the seeds, and changed answers (batched arithmetic; grounding
# rate 0.73 -> 0.67), so one slot per two cores; more cores are untested.
CORES_PER_SLOT = 2
MAX_SLOTS = 8
WEIGHTS_BYTES = 1_500_000_000  # the GGUF (1.1 GB) and llama.cpp's buffers, for the memory cap
KV_BYTES_PER_TOKEN = 28_672  # Qwen2.5-1.5B: 28 layers x 2 (K, V) x 256 values x 2 bytes (f16)


def machine_memory_bytes() -> int | None:
    """Physical memory, where the platform says (POSIX); None elsewhere."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def default_slots(cores: int | None = None, memory_bytes: int | None = None, ctx_per_slot: int = 8192) -> int:
    """How many documents the embedded server decodes at once on this machine: one per CORES_PER_SLOT cores, at
    most MAX_SLOTS, and no more than half the memory beside the weights holds (each slot keeps its own KV cache)."""
    cores = cores if cores is not None else (os.cpu_count() or 1)
    slots = max(1, min(MAX_SLOTS, cores // CORES_PER_SLOT))
    memory_bytes = memory_bytes if memory_bytes is not None else machine_memory_bytes()
    if memory_bytes is not None:
        fits = (memory_bytes // 2 - WEIGHTS_BYTES) // (ctx_per_slot * KV_BYTES_PER_TOKEN)
        slots = max(1, min(slots, fits))
    return int(slots)


def still_serving(base_url: str, timeout_s: float = 2.0) -> bool:
    """A server started earlier still answers at `base_url` (.../v1): GET /models, which every OpenAI-compatible
    server has (a crashed or killed one refuses the connection)."""
    try:
        return httpx.get(f"{base_url}/models", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServer:
    """Context manager: `with LocalServer(path) as server: server.base_url`."""

    def __init__(
        self,
        model_path: Path,
        *,
        ctx_per_slot: int = 8192,
        parallel: int = 1,
        threads: int | None = None,
        speculation: bool = False,
        log_path: Path | None = None,
    ) -> None:
        self.model_path = model_path
        self.ctx_per_slot = ctx_per_slot
        self.parallel = parallel
        self.threads = threads or os.cpu_count() or 1
        self.speculation = speculation
        self.log_path = log_path
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalServer:
        self.port = free_port()
        command = [
            sys.executable, "-m", "llm_extract.providers.local_server",
            "--model", str(self.model_path), "--port", str(self.port),
            "--ctx", str(self.ctx_per_slot * self.parallel), "--parallel", str(self.parallel),
            "--threads", str(self.threads), "--parent", str(os.getpid()),
        ]  # fmt: skip
        if self.speculation:
            command.append("--ngram-speculation")
        log = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        try:
            self._process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        finally:
            if self.log_path:
                log.close()  # type: ignore[union-attr]
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                where = f"; its log is {self.log_path}" if self.log_path else ""
                raise ServerStartError(f"the local llama.cpp server exited with code {self._process.returncode}{where}")
            try:
                if httpx.get(f"{self.root_url}/health", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise ServerStartError(f"the local llama.cpp server was not healthy after {START_TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


T = TypeVar("T")


class SharedServer(Generic[T]):
    """The embedded server of this Python process, kept between library calls and stopped at interpreter exit.

    Loading the weights takes most of a minute on 2 cores: a notebook calling extract_text once per article
    paid it every call. Here the first call starts it (`start`: a context manager yielding what callers use,
    e.g. provider.open_endpoint), later calls with the same configuration `key` reuse it, and one with another
    key waits until no call is using the old one, stops it and starts its own: one server at a time, since
    each holds the weights in memory. Threads asking at once start one server (the start holds the lock). A
    server found dead (`alive` says no) is started again rather than handed out."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running: tuple[Hashable, T, contextlib.ExitStack] | None = None
        self._users = 0
        self._exit_registered = False

    @contextlib.contextmanager
    def use(
        self, key: Hashable, start: Callable[[], AbstractContextManager[T]], alive: Callable[[T], bool]
    ) -> Iterator[T]:
        """The running server for `key` (started if need be) for the duration of the block."""
        with self._changed:
            while self._running is not None and self._running[0] != key and self._users:
                self._changed.wait()
            if self._running is not None and (self._running[0] != key or not alive(self._running[1])):
                self._stop()
            if self._running is None:
                stack = contextlib.ExitStack()
                self._running = (key, stack.enter_context(start()), stack)
                if not self._exit_registered:
                    atexit.register(self.close)
                    self._exit_registered = True
            self._users += 1
            value = self._running[1]
        try:
            yield value
        finally:
            with self._changed:
                self._users -= 1
                self._changed.notify_all()

    def close(self) -> None:
        """Stop the server now (a later use starts a new one); registered to run at interpreter exit."""
        with self._changed:
            self._stop()

    def _stop(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            running[2].close()


def _watch_parent(parent: int) -> None:
    """Exit when the process that started us is gone (it may have been SIGKILLed)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def main(argv: list[str] | None = None) -> None:
    """Child-process entry point: serve until SIGTERM or until the parent dies."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ctx", type=int, required=True)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--parent", type=int, default=os.getppid())
    parser.add_argument("--ngram-speculation", action="store_true", help="draft tokens from n-grams already seen")
    args = parser.parse_args(argv)

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.n_ctx = args.ctx
    params.n_parallel = args.parallel
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.use_jinja = True
    params.model_alias = {MODEL_ALIAS}
    params.endpoint_metrics = True
    if args.ngram_speculation:  # no draft model: drafts come from the prompt and answer so far
        params.speculative.types = [xllamacpp.common_speculative_type.COMMON_SPECULATIVE_TYPE_NGRAM_MOD]

    threading.Thread(target=_watch_parent, args=(args.parent,), daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = xllamacpp.Server(params)  # noqa: F841 (serves from its own threads until we exit)
    stop.wait()
    # Exit at once: the server keeps no state worth flushing, and a graceful shutdown waits for the
    # generation in flight (measured: 15 s and a SIGKILL after Ctrl-C mid-article), as `del server` does.
    os._exit(0)


if __name__ == "__main__":
    main()
