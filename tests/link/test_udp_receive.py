"""The UDP receive path under load: a large kernel buffer and many datagrams per wake-up.

Real sockets on 127.0.0.1: datagrams sent while the event loop is busy (here: blocked outright,
as a long COPY encode or a garbage collection would) wait in the kernel and all arrive, in order.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct

import pytest

from app.link.transport import UdpTransport, parse_endpoint
from tests.procs import free_udp_port

BURST = 3000
PAYLOAD = bytes(140)  # about one drone's 100 ms of telemetry


async def test_a_burst_sent_while_the_loop_is_blocked_arrives_whole_and_in_order() -> None:
    port = free_udp_port()
    received: list[bytes] = []
    all_in = asyncio.Event()

    def on_data(data: bytes) -> None:
        received.append(data)
        if len(received) == BURST:
            all_in.set()

    transport = UdpTransport(parse_endpoint(f"udpin:127.0.0.1:{port}"), rcvbuf_bytes=4 << 20)
    await transport.open(on_data)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for i in range(BURST):  # the loop cannot read meanwhile: all of it queues in the kernel
                sender.sendto(struct.pack("<I", i) + PAYLOAD, ("127.0.0.1", port))
        await asyncio.wait_for(all_in.wait(), 10)
    finally:
        await transport.close()
    assert [struct.unpack_from("<I", d)[0] for d in received] == list(range(BURST))
    assert transport.peer is not None and transport.peer[0] == "127.0.0.1"


async def test_the_granted_receive_buffer_is_reported_and_a_capped_one_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wanted = 1 << 30  # far above any default net.core.rmem_max
    transport = UdpTransport(parse_endpoint(f"udpin:127.0.0.1:{free_udp_port()}"), rcvbuf_bytes=wanted)
    with caplog.at_level(logging.WARNING, logger="app.link.transport"):
        await transport.open(lambda _: None)
    await transport.close()
    assert transport.granted_rcvbuf_bytes > 0
    capped = [r for r in caplog.records if "receive buffer capped" in r.getMessage()]
    if transport.granted_rcvbuf_bytes < wanted:  # no CAP_NET_ADMIN for SO_RCVBUFFORCE
        assert capped and "net.core.rmem_max" in capped[0].getMessage()
    else:
        assert not capped


async def test_a_closed_udp_transport_refuses_to_send_and_stops_reading() -> None:
    port = free_udp_port()
    received: list[bytes] = []
    heard = asyncio.Event()

    def on_data(data: bytes) -> None:
        received.append(data)
        heard.set()

    transport = UdpTransport(parse_endpoint(f"udpin:127.0.0.1:{port}"))
    await transport.open(on_data)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"one", ("127.0.0.1", port))
        await asyncio.wait_for(heard.wait(), 5)
        transport.send(b"reply")  # the last peer heard
        assert sender.recv(16) == b"reply"
        await transport.close()
        assert not transport.connected
        with pytest.raises(Exception, match="closed"):
            transport.send(b"late")
    assert received == [b"one"]
