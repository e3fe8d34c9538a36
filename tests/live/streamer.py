"""Many drones on one UDP link: real MAVLink 2 datagrams from a thread, paced in real time."""

from __future__ import annotations

import socket
import threading
import time

from tests.telemetry.mavbytes import FakeDrone


class UdpStreamer:
    """``count`` vehicles (system ids 1..count) sending HEARTBEAT at 1 Hz and GLOBAL_POSITION_INT at
    ``position_hz`` to ``port`` on 127.0.0.1, one datagram per vehicle per position."""

    def __init__(self, port: int, count: int, lon_deg: float, lat_deg: float, *, position_hz: float = 10.0):
        self.port = port
        self.drones = [FakeDrone(sysid) for sysid in range(1, count + 1)]
        self.lon_deg, self.lat_deg = lon_deg, lat_deg
        self.period_s = 1.0 / position_hz
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="udp-streamer", daemon=True)

    def _run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            start = time.monotonic()
            tick = 0
            while not self._stop.is_set():
                tbm = 1000 + round(tick * self.period_s * 1000)
                for i, drone in enumerate(self.drones):
                    data = drone.position(tbm, self.lat_deg + i * 1e-4, self.lon_deg + (tick % 100) * 1e-6)
                    if tick % round(1 / self.period_s) == 0:
                        data = drone.heartbeat() + data
                    sock.sendto(data, ("127.0.0.1", self.port))
                    self.sent += 1
                tick += 1
                delay = start + tick * self.period_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    def __enter__(self) -> UdpStreamer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
