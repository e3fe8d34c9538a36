"""Telemetry detectors: pure decisions from a drone's messages and state to alert conditions.

Each module holds one family of detectors. A detector keeps per-drone state, is fed the drone's
decoded MAVLink messages (and, for timeouts, a periodic tick) and answers with a ``Verdict``: the
alert types it decides and the conditions that hold now. The runner (runner.py) compares verdicts
with the alerts already open and opens or clears alerts through app/services/alerts.py, so a
detector never needs to remember what it raised and can never raise the same condition twice.
"""
