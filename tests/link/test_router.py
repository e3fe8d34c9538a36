"""Router delivery: waiters, subscriptions and listeners, filtered by system id and name."""

from __future__ import annotations

import asyncio

import pytest

from app.link.codec import MavlinkCodec, MavMessage
from app.link.errors import LinkTimeout, NotConnected
from app.link.router import Router


def messages_from(sysid: int, count: int, name: str = "HEARTBEAT") -> list[MavMessage]:
    """Real decoded messages from a vehicle codec (no stand-in message objects)."""
    vehicle = MavlinkCodec(src_system=sysid, src_component=1)
    gcs = MavlinkCodec(src_system=255, src_component=190)
    out: list[MavMessage] = []
    for index in range(count):
        if name == "HEARTBEAT":
            packet = vehicle.encode(
                "HEARTBEAT",
                type=2,
                autopilot=3,
                base_mode=1,
                custom_mode=index,
                system_status=3,
                mavlink_version=3,
            )
        else:
            packet = vehicle.encode("MISSION_CURRENT", seq=index, total=10, mission_state=3, mission_mode=1)
        out.extend(gcs.decode(packet))
    return out


async def test_expect_resolves_on_the_first_match_for_the_right_vehicle() -> None:
    router = Router("test")
    future = router.expect(
        names="HEARTBEAT", sysid=2, match=lambda m: m.get_int("custom_mode") == 1, timeout_s=1
    )
    for msg in messages_from(1, 3) + messages_from(2, 3):
        router.dispatch(msg)
    got = await future
    assert (got.sysid, got.get_int("custom_mode")) == (2, 1)


async def test_expect_times_out_with_link_timeout() -> None:
    router = Router("test")
    with pytest.raises(LinkTimeout, match="HEARTBEAT"):
        await router.expect(names="HEARTBEAT", timeout_s=0.05)


async def test_subscription_keeps_the_newest_and_counts_drops() -> None:
    router = Router("test")
    with router.subscribe(sysid=1, names="MISSION_CURRENT", maxsize=3) as sub:
        for msg in messages_from(1, 5, "MISSION_CURRENT") + messages_from(1, 2):
            router.dispatch(msg)
        assert sub.dropped == 2
        seqs = [m.get_int("seq") for m in sub.drain()]
        assert seqs == [2, 3, 4]
        assert await sub.next(0.01) is None


async def test_subscription_iterates_until_the_link_closes() -> None:
    router = Router("test")
    sub = router.subscribe()

    async def consume() -> int:
        return len([msg async for msg in sub])

    consumer = asyncio.create_task(consume())
    for msg in messages_from(1, 4):
        router.dispatch(msg)
    await asyncio.sleep(0)
    router.close(NotConnected("closed"))
    assert await asyncio.wait_for(consumer, 1) == 4


async def test_close_fails_pending_waiters() -> None:
    router = Router("test")
    future = router.expect(names="HEARTBEAT", timeout_s=5)
    router.close(NotConnected("link closed"))
    with pytest.raises(NotConnected):
        await future


async def test_listener_errors_do_not_stop_delivery() -> None:
    router = Router("test")
    seen: list[int] = []

    def broken(_: MavMessage) -> None:
        raise RuntimeError("consumer bug")

    router.add_listener(broken)
    remove = router.add_listener(lambda m: seen.append(m.sysid), sysid=3)
    for msg in messages_from(3, 2) + messages_from(4, 2):
        router.dispatch(msg)
    remove()
    for msg in messages_from(3, 1):
        router.dispatch(msg)
    assert seen == [3, 3]
