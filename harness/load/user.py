"""The Locust user of the open model: one user is one connection slot of the engine.

A ``SloUser`` does not decide when to send (that is the scheduler's job, see
:mod:`harness.load.engine`): its single task waits for a job, sends it on its own keep-alive
connection with the lean client (:mod:`harness.load.http`), and hands the times back to the
engine, which records them and fires Locust's ``events.request``. So Locust's runners, user
counts, master/worker protocol, stats table and web UI all work as usual, while the timing of
every request is decided and measured outside Locust's closed-model task loop.

The number of users is the concurrency cap. Users register with their process's
:class:`~harness.load.station.Station` when they start and wait there, idle, until the scheduler
needs them; an idle user holds no connection until its first job.
"""

from __future__ import annotations

import time
from typing import Any, Final

from locust import User, constant, task

from harness.load.http import ClientError, HttpConnection, Reply
from harness.load.station import Station

__all__ = ["SloUser", "station_of"]

_STATION_ATTR: Final = "_slo_harness_station"
#: A bound on one slot's loop; the runner stops users long before (a run is hours at most).
_MAX_JOBS_PER_SLOT: Final = 10**10


def station_of(environment: Any) -> Station:
    """The :class:`Station` of a Locust environment (created on first use)."""
    station = getattr(environment, _STATION_ATTR, None)
    if station is None:
        station = Station()
        setattr(environment, _STATION_ATTR, station)
    assert isinstance(station, Station)
    return station


class SloUser(User):
    """One connection slot of the open-model engine (see the module docstring)."""

    wait_time = constant(0)
    _station: Station | None = None
    _conn: HttpConnection | None = None

    def on_start(self) -> None:
        """Join the engine's pool of slots."""
        self._station = station_of(self.environment)
        self._station.register()

    def on_stop(self) -> None:
        """Leave the pool and drop the connection."""
        if self._station is not None:
            self._station.unregister()
            self._station = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @task
    def serve(self) -> None:
        """Run jobs from the scheduler until the runner stops this user."""
        station = self._station
        assert station is not None
        clock = time.monotonic_ns
        conn: HttpConnection | None = None
        target: tuple[str, int, object] | None = None
        last: object = None  # the engine of the previous job (one per run: skip the check)
        for _ in range(_MAX_JOBS_PER_SLOT):
            job = station.next_job()
            engine = job.engine
            if engine is not last or conn is None:
                if conn is None or target != (engine.host, engine.port, engine.tls):
                    if conn is not None:
                        conn.close()
                    target = (engine.host, engine.port, engine.tls)
                    tls = engine.tls
                    conn = self._conn = HttpConnection(
                        engine.host,
                        engine.port,
                        ssl_context=None if tls is None else tls.context,
                        server_name=None if tls is None else tls.server_name,
                    )
                last = engine
            sent = clock()
            reply: Reply | None
            try:
                reply = conn.exchange(job.data, sent + engine.timeout_ns, job.judge.keep_body)
                error: Exception | None = None
                done = conn.last_read_ns  # the response's last byte, before our parsing of it
            except ClientError as exc:
                reply, error, done = None, exc, clock()
            engine.complete(job, sent, done, reply, error, conn)
