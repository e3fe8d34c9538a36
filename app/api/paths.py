"""Path parameter convertors, so a parameter never captures a sibling route's fixed segment.

``/grids/import`` and ``/grids/{code}`` share a prefix: were ``{code}`` to match ``import``, a GET there
would reach ``get_grid("import")`` and answer 404 instead of the 405 (with ``Allow``) that an
undeclared method deserves. Ids use Starlette's ``int`` convertor (``/tokens/me``, ``/missions/plan``
and ``/alerts/counts`` are then not ids); codes use ``code`` below, which refuses the fixed segments
and otherwise takes any segment, so the input guard and the route's own validation still name the field
of a bad code (a NUL, a bad character) with 422.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

from app.codes import RESERVED_SEGMENTS, UNADDRESSABLE_CODES

__all__ = ["RESERVED_SEGMENTS", "UNADDRESSABLE_CODES", "CodeConvertor"]


class CodeConvertor(Convertor[str]):
    regex = "(?!(?:" + "|".join(RESERVED_SEGMENTS) + ")(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("code", CodeConvertor())
