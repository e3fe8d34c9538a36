"""The parameter protocol: PARAM_REQUEST_LIST, PARAM_REQUEST_READ and PARAM_SET.

Values live in the vehicle's ParamStore (params.py); this answers each request with
PARAM_VALUE as ArduPilot does (MIS_TOTAL is read-only) and tells the vehicle which parameter a
PARAM_SET changed, for the few with side effects (SYSID_THISMAV, SIM_SPEEDUP).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from simulator.mavenums import MavMessage
from simulator.mission_store import Peer
from simulator.params import ParamStore


class ParamProtocol:
    """Answers parameter requests from ``params``; ``on_change(name)`` after a PARAM_SET."""

    def __init__(
        self,
        mav: MavMessage,
        params: ParamStore,
        send: Callable[[MavMessage], None],
        on_change: Callable[[str], None],
    ) -> None:
        self._mav = mav
        self._params = params
        self._send = send
        self._on_change = on_change

    def _param_value(self, name: str) -> MavMessage:
        definition = self._params.definition(name)
        return self._mav.param_value_encode(
            name.encode(),
            self._params[name],
            definition.param_type,
            len(self._params),
            self._params.index_of(name),
        )

    def on_param_request_list(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        for name in self._params.names():
            self._send(self._param_value(name))

    def on_param_request_read(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        name = self._params.name_at(msg.param_index) if msg.param_index >= 0 else _param_id(msg.param_id)
        if name is not None and name in self._params:
            self._send(self._param_value(name))

    def on_param_set(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        name = _param_id(msg.param_id)
        if name not in self._params:
            return
        if name != "MIS_TOTAL" and math.isfinite(msg.param_value):
            self._params.set(name, msg.param_value)
            self._on_change(name)
        self._send(self._param_value(name))


def _param_id(raw: str | bytes) -> str:
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return text.split("\x00", 1)[0]
