"""Forward-only numbered SQL migrations (``migrations/NNNN_slug.sql``), recorded in ``schema_migrations``.

Each file runs in its own transaction under an advisory lock, so two instances starting at once
apply it once. ``describe_schema`` renders the resulting schema from the catalog in a stable
text form; a test compares it with the checked-in ``schema.sql`` so a migration can never change
the schema without the change being reviewed there too.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

from app.db.conn import Conn

log = logging.getLogger(__name__)

_LOCK_KEY = 0x4165726F47726964  # "AeroGrid"
_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> tuple[Migration, ...]:
    folder = resources.files("app.db") / "migrations"
    found = []
    for entry in folder.iterdir():
        m = _NAME_RE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..N without gaps, found {versions}")
    return tuple(found)


async def migrate(conn: Conn) -> list[int]:
    """Apply pending migrations; returns the versions applied now."""
    applied_now: list[int] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for mig in load_migrations():
            if mig.version in done:
                continue
            async with conn.transaction():
                await conn.execute(mig.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", mig.version, mig.name
                )
            log.info("applied migration %04d_%s", mig.version, mig.name)
            applied_now.append(mig.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


_COLUMNS = """
SELECT c.table_name, c.column_name, c.data_type, c.udt_name, c.is_nullable, c.column_default
FROM information_schema.columns c
JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
ORDER BY c.table_name, c.ordinal_position
"""
_CONSTRAINTS = """
SELECT cl.relname AS table_name, co.conname, pg_get_constraintdef(co.oid, true) AS def
FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid
JOIN pg_namespace n ON n.oid = cl.relnamespace
WHERE n.nspname = current_schema()
ORDER BY cl.relname, co.conname
"""
_INDEXES = """
SELECT tablename, indexname, regexp_replace(indexdef, ' ON [^ ]+\\.', ' ON ') AS def
FROM pg_indexes WHERE schemaname = current_schema() ORDER BY tablename, indexname
"""


async def describe_schema(conn: Conn) -> str:
    """The current schema as stable text: tables with columns, constraints and indexes."""
    lines: list[str] = []
    table = None
    for r in await conn.fetch(_COLUMNS):
        if r["table_name"] != table:
            table = r["table_name"]
            lines.append(f"TABLE {table}")
        typ = r["udt_name"] if r["data_type"] in ("USER-DEFINED", "ARRAY") else r["data_type"]
        null = "NULL" if r["is_nullable"] == "YES" else "NOT NULL"
        default = f" DEFAULT {r['column_default']}" if r["column_default"] is not None else ""
        lines.append(f"  COLUMN {r['column_name']} {typ} {null}{default}")
    for r in await conn.fetch(_CONSTRAINTS):
        lines.append(f"CONSTRAINT {r['table_name']}.{r['conname']} {r['def']}")
    for r in await conn.fetch(_INDEXES):
        lines.append(f"INDEX {r['tablename']}.{r['indexname']} {r['def']}")
    return "\n".join(lines) + "\n"
