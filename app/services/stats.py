"""Work-order statistics per grid, community, street, channel or type over a time range.

Orders count in the range by their ``opened_at``. ``open`` is every order not closed or cancelled,
``overdue`` those of them still running past their due time now, ``closed_within_sla_share`` the
share of closed orders closed by their due time (null when none closed), and the close times are
``closed_at - opened_at`` in seconds (mean and 90th percentile, null when none closed).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any, Final, Literal

from app.auth import Principal
from app.db.conn import Conn
from app.db.repos.workorders import OPEN_STATES

GroupBy = Literal["grid", "community", "street", "channel", "type"]
_COLUMN: Final[dict[str, str]] = {
    "grid": "grid_code",
    "community": "community_code",
    "street": "street_code",
    "channel": "channel",
    "type": "type",
}
FIELDS: Final = (
    "key",
    "opened",
    "closed",
    "open",
    "overdue",
    "closed_within_sla_share",
    "mean_close_s",
    "p90_close_s",
)


async def work_order_stats(
    conn: Conn, *, by: GroupBy, since: datetime, until: datetime, now: datetime, principal: Principal
) -> list[dict[str, Any]]:
    column = _COLUMN[by]  # one of five fixed names, never the caller's text
    rows = await conn.fetch(
        f"""SELECT {column} AS key,
                   count(*) AS opened,
                   count(*) FILTER (WHERE state = 'closed') AS closed,
                   count(*) FILTER (WHERE state NOT IN ('closed', 'cancelled')) AS open,
                   count(*) FILTER (WHERE state = ANY($4::text[]) AND due_at <= $3) AS overdue,
                   (count(*) FILTER (WHERE state = 'closed' AND closed_at <= due_at))::float8
                       / nullif(count(*) FILTER (WHERE state = 'closed'), 0) AS closed_within_sla_share,
                   avg(extract(epoch FROM closed_at - opened_at)) FILTER (WHERE state = 'closed') AS mean_close_s,
                   percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - opened_at))
                       FILTER (WHERE state = 'closed') AS p90_close_s
            FROM work_orders
            WHERE opened_at >= $1 AND opened_at < $2 AND ($5::text[] IS NULL OR community_code = ANY($5))
            GROUP BY 1 ORDER BY 1 NULLS LAST""",
        since,
        until,
        now,
        list(OPEN_STATES),
        principal.community_scope,
    )
    return [
        {
            **dict(r),
            "mean_close_s": None if r["mean_close_s"] is None else float(r["mean_close_s"]),
            "p90_close_s": None if r["p90_close_s"] is None else float(r["p90_close_s"]),
        }
        for r in rows
    ]


def as_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV with a header line; empty cells for nulls."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row[k] is None else row[k] for k in FIELDS})
    return out.getvalue()
