"""Planning in worker processes behind a bounded queue, with a time budget and cancellation.

Planning is CPU-bound pure Python: run in threads of the service's own process it holds the GIL
and starves the event loop that also carries the drone links, the state reads and the live
stream. ``PlanPool`` runs each plan in one of ``workers`` processes instead, so the event loop
only sends the job and waits on a pipe. Around that:

* Admission: at most ``workers`` plans run and ``queue_size`` wait; one more is refused at once
  with 503 ``planning_busy`` and a Retry-After from the recent plan durations, rather than
  letting waits grow without bound.
* Time budget: a plan running longer than ``timeout_s`` has its worker killed and the request
  gets 422 ``plan_time_exceeded`` (the request asks for too much work; retrying it will not help).
* Cancellation: a caller that goes away (its task is cancelled: the client disconnected, or the
  server is stopping) leaves the queue at once, or, when its plan is running, has its worker
  killed. A killed worker is replaced in the background, so the pool keeps its size.
* Stop: ``stop_soon`` (callable from a signal handler) and ``close`` kill the workers; running
  and waiting plans get 503 ``planning_unavailable`` at once, so a SIGTERM is not held up by them.

Workers come from the ``forkserver`` start method with the planning core preloaded: a
replacement starts in tens of milliseconds, and no worker inherits the service's sockets,
threads or event loop as a plain fork would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import multiprocessing
import os
import pickle
import signal
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from typing import Any, TypeVar

from app.errors import ServiceUnavailable, ValidationFailed

log = logging.getLogger(__name__)

T = TypeVar("T")

_PRELOAD = ["missions.job"]
_KILL_WAIT_S = 2.0


class PlanningBusy(ServiceUnavailable):
    code = "planning_busy"


class PlanningUnavailable(ServiceUnavailable):
    code = "planning_unavailable"


class PlanTimeExceeded(ValidationFailed):
    code = "plan_time_exceeded"


def default_workers(cpus: int | None = None) -> int:
    """One core stays with the event loop (links, state, live stream): ``max(1, cpus - 1)``."""
    return max(1, (cpus if cpus is not None else os.cpu_count() or 1) - 1)


def _worker_main(conn: Connection, nice: int) -> None:
    """A worker's loop: receive ``(fn, args)``, answer ``("ok", result)`` or ``("error", exc)``.

    The worker lowers its CPU priority by ``nice``: when cores are short, the scheduler then
    gives the event loop (links, state, live stream) the CPU first and planning what is left.
    SIGINT is ignored: a Ctrl-C in a terminal reaches the whole process group, and the service
    stops its workers itself. The loop ends when the service closes its end of the pipe.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice:
        os.nice(nice)
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, Any] = ("ok", fn(*args))
        except Exception as exc:
            reply = ("error", _portable(exc))
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception as exc:  # an unpicklable result or exception: say what it was
            conn.send(("error", RuntimeError(f"planning worker could not send its result: {exc!r}")))


def _portable(exc: Exception) -> Exception:
    """``exc`` if it survives pickling, else its message in a plain ValueError (the planners'
    refusal of bad parameters) or RuntimeError: the service must not fail to read the reply."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return (ValueError if isinstance(exc, ValueError) else RuntimeError)(str(exc))
    return exc


@dataclass(slots=True, eq=False)  # compared and hashed by identity
class _Worker:
    """A worker process, the service's end of its pipe, and the read in progress on it.

    The pipe is closed only once no thread reads it any more: killing the process ends a
    pending read with EOF, and ``retire`` waits for that before closing.
    """

    process: multiprocessing.process.BaseProcess
    conn: Connection
    reader: asyncio.Future[Any] | None = None

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()

    async def retire(self) -> None:
        self.kill()
        await asyncio.to_thread(self.process.join, _KILL_WAIT_S)
        if self.reader is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self.reader
        self.conn.close()


class PlanPool:
    """``workers`` planning processes (at ``nice`` lower priority), ``queue_size`` waiting plans,
    ``timeout_s`` per plan."""

    def __init__(self, *, workers: int, queue_size: int, timeout_s: float, nice: int = 10) -> None:
        if workers < 1 or queue_size < 0 or not timeout_s > 0:
            raise ValueError(f"bad pool size: workers={workers} queue_size={queue_size} timeout_s={timeout_s}")
        self.workers = workers
        self.queue_size = queue_size
        self.timeout_s = timeout_s
        self.nice = nice
        self._ctx: ForkServerContext = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(_PRELOAD)
        self._idle: asyncio.Queue[_Worker | None] = asyncio.Queue()
        self._all: set[_Worker] = set()
        self._admitted = 0
        self._stopping = False
        self._respawns: set[asyncio.Task[None]] = set()
        self._durations_s: deque[float] = deque(maxlen=32)
        self._readers = ThreadPoolExecutor(max_workers=2 * workers, thread_name_prefix="plan-pipe")
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def running(self) -> int:
        """Plans admitted (running or waiting for a worker)."""
        return self._admitted

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for _ in range(self.workers):
            self._idle.put_nowait(await asyncio.to_thread(self._spawn))

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=_worker_main, args=(child, self.nice), name="aerogrid-planner", daemon=True)
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self._all.add(worker)
        return worker

    def retry_after_s(self) -> int:
        """Seconds until a slot is likely free: the queue ahead, at the recent mean plan time."""
        mean_s = sum(self._durations_s) / len(self._durations_s) if self._durations_s else 2.0
        ahead = max(1, self._admitted - self.workers + 1)
        return max(1, min(math.ceil(self.timeout_s), math.ceil(mean_s * ahead / self.workers)))

    def check_capacity(self) -> None:
        """Refuse at once (503) when stopping or when every worker and queue place is taken."""
        if self._stopping:
            raise PlanningUnavailable(
                "planning is stopping with the service; retry on another instance or after the restart",
                details={"retry_after_s": 5},
                headers={"Retry-After": "5"},
            )
        if self._admitted >= self.workers + self.queue_size:
            retry = self.retry_after_s()
            raise PlanningBusy(
                f"planning is busy: {self.workers} running and {self.queue_size} waiting; retry in {retry} s",
                details={"workers": self.workers, "queue_size": self.queue_size, "retry_after_s": retry},
                headers={"Retry-After": str(retry)},
            )

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker. Raises ``PlanningBusy``, ``PlanTimeExceeded``,
        ``PlanningUnavailable``, or what ``fn`` raised; cancelling the caller cancels the plan."""
        self.check_capacity()
        self._admitted += 1
        try:
            worker = await self._idle.get()
            if worker is None or self._stopping:
                raise PlanningUnavailable(
                    "planning stopped with the service", headers={"Retry-After": "5"}
                )
            return await self._run_on(worker, fn, args)
        finally:
            self._admitted -= 1

    async def _run_on(self, worker: _Worker, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        healthy = False
        try:
            worker.conn.send((fn, args))
            worker.reader = loop.run_in_executor(self._readers, worker.conn.recv)
            async with asyncio.timeout(self.timeout_s):
                status, payload = await asyncio.shield(worker.reader)
            worker.reader = None
            healthy = True
        except TimeoutError:
            log.warning("plan over its %g s budget: worker %s killed", self.timeout_s, worker.process.pid)
            raise PlanTimeExceeded(
                f"the plan took longer than its budget of {self.timeout_s:g} s and was stopped; "
                "ask for less work (fewer grids, a wider swath or a larger audible radius)",
                details=[{"field": "body", "problem": "time budget exceeded", "limit_s": self.timeout_s}],
            ) from None
        except asyncio.CancelledError:
            log.info("plan cancelled (its client left, or the service stops): worker %s killed", worker.process.pid)
            raise
        except (EOFError, OSError) as exc:
            if self._stopping:
                raise PlanningUnavailable(
                    "planning stopped with the service", headers={"Retry-After": "5"}
                ) from None
            log.error("planning worker %s died: %r", worker.process.pid, exc)
            raise PlanningUnavailable(
                "the planning worker died (out of memory?); retry shortly", headers={"Retry-After": "2"}
            ) from None
        finally:
            if healthy and not self._stopping:
                self._durations_s.append(time.monotonic() - started)
                self._idle.put_nowait(worker)
            else:  # timed out, cancelled, died or stopping: this worker's state is unknown
                self._replace(worker)
        if status == "error":
            assert isinstance(payload, BaseException)
            raise payload
        result: T = payload
        return result

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self._all.discard(worker)
        task = asyncio.get_running_loop().create_task(self._respawn(worker))
        self._respawns.add(task)
        task.add_done_callback(self._respawns.discard)

    async def _respawn(self, dead: _Worker) -> None:
        await dead.retire()
        if self._stopping:
            return
        fresh = await asyncio.to_thread(self._spawn)
        if self._stopping:
            self._all.discard(fresh)
            await fresh.retire()
            return
        self._idle.put_nowait(fresh)

    def stop_soon(self) -> None:
        """Begin stopping from any thread (a signal handler): new plans are refused, the
        workers are killed, and plans running or waiting fail at once with 503."""
        self._stopping = True
        for worker in list(self._all):
            worker.kill()
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake_waiters)

    def _wake_waiters(self) -> None:
        for _ in range(self._admitted + self.workers):
            self._idle.put_nowait(None)

    async def close(self) -> None:
        """Stop every worker and wait for them to exit (the lifespan's shutdown)."""
        self.stop_soon()
        self._wake_waiters()
        await asyncio.gather(*self._respawns, return_exceptions=True)
        for worker in list(self._all):
            await worker.retire()
        self._all.clear()
        self._readers.shutdown(wait=False, cancel_futures=True)
