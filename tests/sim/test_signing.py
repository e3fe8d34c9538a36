"""MAVLink 2 signing: the vehicle signs what it sends and drops unsigned or wrongly signed input."""

from __future__ import annotations

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from tests.sim.gcs import Gcs, running_vehicle

KEY = bytes(range(32))
WRONG_KEY = bytes(reversed(range(32)))


def test_signed_vehicle_answers_only_the_right_key_and_survives_a_future_dated_forgery() -> None:
    with running_vehicle(signing_key=KEY) as handle:
        with Gcs(handle.port, source_system=250) as unsigned:
            assert unsigned.recv("HEARTBEAT", 1.5) is None  # not even registered as a peer
        with Gcs(handle.port, source_system=251, signing_key=WRONG_KEY) as forger:
            # A forged packet with a far-future timestamp must not poison the stream's replay window.
            forger.conn.mav.signing.timestamp = 2**47
            forger.mav.command_long_send(1, 1, mavlink.MAV_CMD_DO_SET_RELAY, 0, 1, 1, 0, 0, 0, 0, 0)
            assert forger.recv("COMMAND_ACK", 1.0) is None
        with Gcs(handle.port, source_system=251, signing_key=KEY) as genuine:
            heartbeat = genuine.recv("HEARTBEAT", 3.0)
            assert heartbeat is not None and heartbeat.get_signed()
            assert genuine.command(mavlink.MAV_CMD_DO_SET_RELAY, 1, 1) == mavlink.MAV_RESULT_ACCEPTED
        vehicle = handle.vehicle
        assert vehicle.relays == {1: True}
        guard = vehicle._guard
        assert guard is not None
        assert guard.rejected_unsigned >= 1 and guard.rejected_bad_signature >= 1


def test_replayed_signed_frame_is_dropped() -> None:
    with running_vehicle(signing_key=KEY) as handle, Gcs(handle.port, signing_key=KEY) as gcs:
        assert gcs.recv("HEARTBEAT", 3.0) is not None
        msg = gcs.mav.command_long_encode(1, 1, mavlink.MAV_CMD_DO_SET_RELAY, 0, 3, 1, 0, 0, 0, 0, 0)
        frame = msg.pack(gcs.mav)
        gcs.conn.write(frame)
        assert gcs.recv("COMMAND_ACK", 2.0) is not None
        gcs.conn.write(frame)  # same timestamp: a replay
        assert gcs.recv("COMMAND_ACK", 1.0) is None
        guard = handle.vehicle._guard
        assert guard is not None and guard.rejected_replay == 1
