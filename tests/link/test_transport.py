"""Endpoint parsing and the transports over real sockets."""

from __future__ import annotations

import asyncio
import importlib.util
import socket

import pytest

from app.link.errors import NotConnected
from app.link.transport import Endpoint, SerialTransport, TcpTransport, UdpTransport, parse_endpoint
from tests.procs import free_udp_port


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("udpin:0.0.0.0:14550", Endpoint("udpin", host="0.0.0.0", port=14550)),
        ("udp:127.0.0.1:14551", Endpoint("udpin", host="127.0.0.1", port=14551)),
        ("udpout:drone-7.local:14550", Endpoint("udpout", host="drone-7.local", port=14550)),
        ("UDPOUT:[::1]:5000", Endpoint("udpout", host="::1", port=5000)),
        ("tcp:10.0.0.5:5760", Endpoint("tcp", host="10.0.0.5", port=5760)),
        (" serial:/dev/ttyUSB0:57600 ", Endpoint("serial", device="/dev/ttyUSB0", baud_rate=57600)),
        ("serial:COM3:115200", Endpoint("serial", device="COM3", baud_rate=115200)),
    ],
)
def test_parse_valid_endpoints(text: str, expected: Endpoint) -> None:
    assert parse_endpoint(text) == expected
    assert parse_endpoint(str(expected)) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("14550", "expected KIND:ADDRESS"),
        ("http:1.2.3.4:80", "unknown kind 'http'"),
        ("udpin:14550", "expected udpin:HOST:PORT"),
        ("udpout:1.2.3.4:0", "port must be 1-65535"),
        ("udpout:1.2.3.4:70000", "port must be 1-65535"),
        ("tcp:1.2.3.4:http", "port must be a number"),
        ("tcp:bad_host!:5760", "not an IP address or host name"),
        ("tcp::5760", "expected tcp:HOST:PORT"),
        ("serial:ttyUSB0:57600", "serial device must look like"),
        ("serial:/dev/ttyUSB0:fast", "baud rate must be a number"),
        ("serial:/dev/ttyUSB0:12", "baud rate must be"),
    ],
)
def test_parse_invalid_endpoints_names_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(")):
        parse_endpoint(text)


async def test_udpin_replies_to_the_last_peer_and_udpout_receives_replies() -> None:
    port = free_udp_port()
    server_rx: asyncio.Queue[bytes] = asyncio.Queue()
    client_rx: asyncio.Queue[bytes] = asyncio.Queue()
    server = UdpTransport(parse_endpoint(f"udpin:127.0.0.1:{port}"))
    client = UdpTransport(parse_endpoint(f"udpout:127.0.0.1:{port}"))
    await server.open(server_rx.put_nowait)
    await client.open(client_rx.put_nowait)
    try:
        with pytest.raises(NotConnected, match="no peer"):
            server.send(b"too early")
        client.send(b"hello")
        assert await asyncio.wait_for(server_rx.get(), 2) == b"hello"
        assert server.peer == ("127.0.0.1", client.local_port)
        server.send(b"reply")
        assert await asyncio.wait_for(client_rx.get(), 2) == b"reply"
    finally:
        await client.close()
        await server.close()


async def test_udpin_port_in_use_is_a_clear_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        transport = UdpTransport(parse_endpoint(f"udpin:127.0.0.1:{port}"))
        with pytest.raises(NotConnected, match="cannot open UDP socket"):
            await transport.open(lambda _: None)


async def test_tcp_reconnects_after_the_peer_goes_away() -> None:
    received: asyncio.Queue[bytes] = asyncio.Queue()
    connections: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.put_nowait(writer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = TcpTransport(parse_endpoint(f"tcp:127.0.0.1:{port}"))
    await transport.open(received.put_nowait)
    runner = asyncio.create_task(transport.run())
    try:
        first = await asyncio.wait_for(connections.get(), 3)
        first.write(b"one")
        assert await asyncio.wait_for(received.get(), 2) == b"one"
        first.close()
        second = await asyncio.wait_for(connections.get(), 5)
        assert transport.connects == 2
        await asyncio.sleep(0.05)
        transport.send(b"after reconnect")
        second.write(b"two")
        assert await asyncio.wait_for(received.get(), 2) == b"two"
    finally:
        await transport.close()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        server.close()
        await server.wait_closed()


async def test_tcp_send_while_disconnected_raises_not_connected() -> None:
    transport = TcpTransport(parse_endpoint("tcp:127.0.0.1:9"))
    await transport.open(lambda _: None)
    with pytest.raises(NotConnected):
        transport.send(b"x")


@pytest.mark.skipif(importlib.util.find_spec("serial") is not None, reason="pyserial is installed")
async def test_serial_without_pyserial_says_so() -> None:
    transport = SerialTransport(parse_endpoint("serial:/dev/ttyUSB0:57600"))
    with pytest.raises(NotConnected, match="pyserial"):
        await transport.open(lambda _: None)
