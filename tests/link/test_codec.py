"""Codec behaviour: typed messages, counters, datagram framing and signing (with the 2.4.50 guard)."""

from __future__ import annotations

import struct

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from app.link.codec import MavlinkCodec, message_id, mode_name, signing_timestamp_now
from app.link.constants import MavAutopilot, MavModeFlag, MavType

KEY = bytes(range(32))
OTHER_KEY = bytes(32 * [7])


def heartbeat(codec: MavlinkCodec, custom_mode: int = 4) -> bytes:
    return codec.encode(
        "HEARTBEAT",
        type=MavType.QUADROTOR,
        autopilot=MavAutopilot.ARDUPILOTMEGA,
        base_mode=MavModeFlag.CUSTOM_MODE_ENABLED,
        custom_mode=custom_mode,
        system_status=3,
        mavlink_version=3,
    )


def vehicle_codec(key: bytes | None = None) -> MavlinkCodec:
    return MavlinkCodec(src_system=1, src_component=1, signing_key=key)


def gcs_codec(key: bytes | None = None) -> MavlinkCodec:
    return MavlinkCodec(src_system=255, src_component=190, signing_key=key)


def test_decoded_message_is_typed_and_carries_source_ids() -> None:
    gcs = gcs_codec()
    [msg] = gcs.decode(heartbeat(vehicle_codec()))
    assert (msg.name, msg.msg_id, msg.sysid, msg.compid) == ("HEARTBEAT", 0, 1, 1)
    assert msg.get_int("custom_mode") == 4
    assert mode_name(mav_type=2, autopilot=3, base_mode=1, custom_mode=msg.get_int("custom_mode")) == "GUIDED"
    with pytest.raises(TypeError):
        msg.get_str("custom_mode")


def test_text_fields_encode_from_str_and_decode_to_str() -> None:
    packet = gcs_codec().encode(
        "PARAM_SET",
        target_system=1,
        target_component=1,
        param_id="FS_GCS_ENABLE",
        param_value=1.0,
        param_type=2,
    )
    [msg] = vehicle_codec().decode(packet)
    assert msg.get_str("param_id") == "FS_GCS_ENABLE"
    assert msg.get_float("param_value") == 1.0


def test_encode_rejects_unknown_message_and_missing_fields() -> None:
    codec = gcs_codec()
    with pytest.raises(ValueError, match="NOT_A_MESSAGE"):
        codec.encode("NOT_A_MESSAGE")
    with pytest.raises(ValueError, match="HEARTBEAT"):
        codec.encode("HEARTBEAT", type=6)


def test_several_packets_in_one_datagram_all_decode() -> None:
    vehicle = vehicle_codec()
    data = heartbeat(vehicle, 3) + heartbeat(vehicle, 4) + heartbeat(vehicle, 5)
    modes = [m.get_int("custom_mode") for m in gcs_codec().decode(data, datagram=True)]
    assert modes == [3, 4, 5]


def test_bad_crc_and_junk_are_counted_and_do_not_stop_decoding() -> None:
    vehicle, gcs = vehicle_codec(), gcs_codec()
    corrupted = bytearray(heartbeat(vehicle))
    corrupted[12] ^= 0xFF
    decoded = gcs.decode(bytes(corrupted) + b"\x01\x02\x03" + heartbeat(vehicle, 9))
    assert [m.get_int("custom_mode") for m in decoded] == [9]
    assert gcs.stats.rx_bad_crc == 1
    assert gcs.stats.rx_bad_data == 1
    assert gcs.stats.rx_packets == 1


def test_truncated_datagram_does_not_corrupt_the_next_one() -> None:
    vehicle, gcs = vehicle_codec(), gcs_codec()
    assert gcs.decode(heartbeat(vehicle)[:10], datagram=True) == []
    [msg] = gcs.decode(heartbeat(vehicle, 6), datagram=True)
    assert msg.get_int("custom_mode") == 6
    assert gcs.stats.rx_bad_data == 1


def test_lost_packets_are_counted_from_sequence_gaps() -> None:
    vehicle, gcs = vehicle_codec(), gcs_codec()
    packets = [heartbeat(vehicle) for _ in range(10)]
    for index in (0, 1, 4, 9):
        gcs.decode(packets[index])
    assert gcs.stats.rx_seq_lost == 2 + 4


def test_tx_and_rx_counters() -> None:
    vehicle, gcs = vehicle_codec(), gcs_codec()
    packet = heartbeat(vehicle)
    gcs.decode(packet)
    assert vehicle.stats.tx_packets == 1 and vehicle.stats.tx_bytes == len(packet)
    assert gcs.stats.rx_packets == 1 and gcs.stats.rx_bytes == len(packet)


def test_message_id_by_name() -> None:
    assert message_id("GLOBAL_POSITION_INT") == 33
    with pytest.raises(ValueError):
        message_id("NOPE")


# --- signing -------------------------------------------------------------------------------


def test_signed_packets_round_trip_and_are_marked_signed() -> None:
    vehicle, gcs = vehicle_codec(KEY), gcs_codec(KEY)
    packet = heartbeat(vehicle)
    assert packet[2] & 0x01  # incompat flag: signed
    [msg] = gcs.decode(packet)
    assert msg.signed
    assert gcs.stats.signing_rejects == 0


def test_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        gcs_codec(b"short")


def test_unsigned_packets_are_dropped_when_a_key_is_set() -> None:
    gcs = gcs_codec(KEY)
    assert gcs.decode(heartbeat(vehicle_codec())) == []
    assert gcs.stats.rx_unsigned_dropped == 1
    assert gcs.stats.rx_packets == 0


def test_wrong_key_packets_are_dropped() -> None:
    gcs = gcs_codec(KEY)
    assert gcs.decode(heartbeat(vehicle_codec(OTHER_KEY))) == []
    assert gcs.stats.rx_bad_signature == 1


def test_replayed_packets_are_dropped() -> None:
    vehicle, gcs = vehicle_codec(KEY), gcs_codec(KEY)
    packet = heartbeat(vehicle)
    assert len(gcs.decode(packet)) == 1
    assert gcs.decode(packet) == []
    assert gcs.stats.rx_replayed == 1


def _forged_future_packet(timestamp: int) -> bytes:
    """A HEARTBEAT from sysid 1 signed with the wrong key and a far-future timestamp."""
    forger = mavlink.MAVLink(None, srcSystem=1, srcComponent=1)
    forger.signing.secret_key = OTHER_KEY
    forger.signing.sign_outgoing = True
    forger.signing.link_id = 0
    forger.signing.timestamp = timestamp
    msg = mavlink.MAVLink_heartbeat_message(
        type=2, autopilot=3, base_mode=1, custom_mode=4, system_status=3, mavlink_version=3
    )
    return bytes(msg.pack(forger))


def test_plain_pymavlink_locks_out_genuine_packets_after_a_forged_future_timestamp() -> None:
    """Documents the pymavlink 2.4.50 flaw the codec guards against."""
    vehicle = vehicle_codec(KEY)
    first, later = heartbeat(vehicle), heartbeat(vehicle)
    plain = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
    plain.robust_parsing = True
    plain.signing.secret_key = KEY
    plain.signing.timestamp = signing_timestamp_now()
    assert plain.parse_buffer(first)[0].get_type() == "HEARTBEAT"
    assert (
        plain.parse_buffer(_forged_future_packet(signing_timestamp_now() + 10**12))[0].get_type()
        == "BAD_DATA"
    )
    assert plain.parse_buffer(later)[0].get_type() == "BAD_DATA"  # genuine, yet rejected


def test_forged_future_timestamp_does_not_lock_out_genuine_packets() -> None:
    vehicle, gcs = vehicle_codec(KEY), gcs_codec(KEY)
    assert len(gcs.decode(heartbeat(vehicle))) == 1
    assert gcs.decode(_forged_future_packet(signing_timestamp_now() + 10**12)) == []
    assert gcs.stats.rx_bad_signature == 1
    genuine = [gcs.decode(heartbeat(vehicle)) for _ in range(5)]
    assert all(len(batch) == 1 for batch in genuine)
    assert gcs.stats.rx_replayed == 0


def test_new_stream_older_than_a_minute_is_rejected() -> None:
    vehicle, gcs = vehicle_codec(KEY), gcs_codec(KEY)
    stale = signing_timestamp_now() - 2 * 60 * 100_000
    vehicle._mav.signing.timestamp = stale  # a sender whose clock is two minutes behind
    assert gcs.decode(heartbeat(vehicle)) == []
    assert gcs.stats.rx_replayed == 1


def test_outgoing_signature_verifies_with_the_key() -> None:
    packet = heartbeat(gcs_codec(KEY))
    import hashlib

    assert hashlib.sha256(KEY + packet[:-6]).digest()[:6] == packet[-6:]
    low, high = struct.unpack("<IH", packet[-12:-6])
    assert abs((low + (high << 32)) - signing_timestamp_now()) < 100_000  # within a second of now
