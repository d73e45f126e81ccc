"""What ``linecheck db verify`` checks below the review chain, and the API's least-privilege role.

* The database is consistent: SQLite's ``integrity_check`` and ``foreign_key_check``; on
  PostgreSQL (no ``amcheck`` needed) every table is read through, no index is left invalid, and
  ``fsync`` / ``synchronous_commit`` / ``full_page_writes`` are on.
* The audit trails' guards are in place: the triggers of the reviews, the pass audits, the holds
  and their releases exist (and are enabled).
* On PostgreSQL, the role the API connects as cannot get around them: it is no superuser, owns
  no table, is no member of the owner, and may not TRUNCATE, DELETE, or UPDATE reviews, audits, holds or
  their releases.
  :func:`grant_app_role` gives a role exactly what the API needs (:data:`APP_PRIVILEGES`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from linecheck.errors import InvalidFieldError
from linecheck.serving.store.models import Base

Level = Literal["ok", "warning", "error"]

#: Triggers that keep ``reviews`` append-only, per dialect.
REVIEW_GUARDS = {
    "sqlite": ("reviews_no_update", "reviews_no_delete", "reviews_no_replace"),
    "postgresql": ("reviews_append_only", "reviews_no_truncate"),
}
#: Triggers that keep the pass ``audits`` append-only, per dialect (migration 0013).
AUDIT_GUARDS = {
    "sqlite": ("audits_no_update", "audits_no_delete", "audits_no_replace"),
    "postgresql": ("audits_append_only", "audits_no_truncate"),
}
#: Triggers that keep the holds and their releases append-only, per dialect (migration 0015).
HOLD_GUARDS = {
    "sqlite": ("holds_no_update", "holds_no_delete", "holds_no_replace"),
    "postgresql": ("holds_append_only", "holds_no_truncate"),
}
HOLD_RELEASE_GUARDS = {
    "sqlite": ("hold_releases_no_update", "hold_releases_no_delete", "hold_releases_no_replace"),
    "postgresql": ("hold_releases_append_only", "hold_releases_no_truncate"),
}
#: The append-only tables, what their triggers are called in messages, and the triggers.
_GUARDED = (
    ("reviews", "review", REVIEW_GUARDS),
    ("audits", "audit", AUDIT_GUARDS),
    ("holds", "hold", HOLD_GUARDS),
    ("hold_releases", "hold release", HOLD_RELEASE_GUARDS),
)

#: What the API's role may do, table by table: it reads everything, deletes nothing, never changes a
#: review or an audit, and writes line configs and keys only through the owner (start-up sync, ``linecheck``).
APP_PRIVILEGES: dict[str, str] = {
    "alembic_version": "SELECT",
    "lines": "SELECT",
    "stations": "SELECT, INSERT",
    "units": "SELECT, INSERT",
    "inspections": "SELECT, INSERT, UPDATE",  # a code typed in for an unread frame, defect counts
    "defects": "SELECT, INSERT, UPDATE",  # the current review state (checked against the reviews)
    "reviews": "SELECT, INSERT",
    "audits": "SELECT, INSERT",  # a re-audit is a new row
    "holds": "SELECT, INSERT",  # a hold ends with a release, a row of its own
    "hold_releases": "SELECT, INSERT",
    "genealogy": "SELECT, INSERT",
    "process_events": "SELECT, INSERT",
    "images": "SELECT, INSERT, UPDATE",  # the image retention's expiry marks (files go; records stay)
    "golden_samples": "SELECT, INSERT",
    "api_keys": "SELECT",
    "readiness_probe": "SELECT, INSERT, UPDATE",
}
_ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    """One result of a check: ``error`` fails ``linecheck db verify``, ``warning`` does not."""

    level: Level
    check: str
    message: str


def _ok(check: str, message: str) -> Finding:
    return Finding(level="ok", check=check, message=message)


def _error(check: str, message: str) -> Finding:
    return Finding(level="error", check=check, message=message)


def _warning(check: str, message: str) -> Finding:
    return Finding(level="warning", check=check, message=message)


def check_role_name(role: str) -> str:
    """``role`` if it is a plain PostgreSQL role name (lower case, digits, underscores)."""
    if not _ROLE_RE.fullmatch(role):
        raise InvalidFieldError("app_role", role, "expected a role name such as linecheck_api")
    return role


def _sqlite(conn: Connection) -> list[Finding]:
    findings = []
    integrity = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA integrity_check")]
    if integrity == ["ok"]:
        findings.append(_ok("integrity", "SQLite integrity_check: ok"))
    else:
        findings.append(_error("integrity", "SQLite integrity_check: " + "; ".join(integrity[:20])))
    orphans = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    if orphans:
        shown = ", ".join(f"{r[0]} row {r[1]} -> {r[2]}" for r in orphans[:20])
        findings.append(
            _error("integrity", f"{len(orphans)} row(s) point at rows that do not exist: {shown}")
        )
    else:
        findings.append(_ok("integrity", "SQLite foreign_key_check: ok"))
    for table, what, guards in _GUARDED:
        present = {
            str(r[0])
            for r in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
            )
        }
        missing = [t for t in guards["sqlite"] if t not in present]
        if missing:
            findings.append(_error("guards", f"{what} triggers missing (dropped?): {', '.join(missing)}"))
        else:
            findings.append(_ok("guards", f"{what} triggers present: " + ", ".join(guards["sqlite"])))
    return findings


def _postgres(conn: Connection) -> list[Finding]:
    findings = []
    unreadable = []
    for table in [*(t.name for t in Base.metadata.sorted_tables), "alembic_version"]:
        try:
            with conn.begin_nested():
                conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
        except DBAPIError as exc:
            unreadable.append(f"{table}: {str(exc.orig).strip().splitlines()[0]}")
    if unreadable:
        findings.append(_error("integrity", "tables that cannot be read through: " + "; ".join(unreadable)))
    else:
        findings.append(_ok("integrity", "every table reads through"))
    invalid = conn.execute(
        text(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND NOT (i.indisvalid AND i.indisready)"
        )
    ).scalars()
    names = sorted(str(n) for n in invalid)
    if names:
        findings.append(_error("integrity", f"invalid indexes (REINDEX them): {', '.join(names)}"))
    for setting in ("fsync", "synchronous_commit", "full_page_writes"):
        value = str(conn.execute(text(f"SHOW {setting}")).scalar_one())
        if value == "off":
            findings.append(_warning("durability", f"{setting} is off: a crash can lose acknowledged writes"))
    for table, what, guards in _GUARDED:
        triggers = {
            str(r[0]): str(r[1])
            for r in conn.execute(
                text(
                    "SELECT tgname, tgenabled FROM pg_trigger"
                    " WHERE tgrelid = CAST(:table AS regclass) AND NOT tgisinternal"
                ),
                {"table": table},
            )
        }
        missing = [t for t in guards["postgresql"] if t not in triggers]
        disabled = [t for t in guards["postgresql"] if triggers.get(t) == "D"]
        if missing or disabled:
            found = [f"missing: {', '.join(missing)}"] if missing else []
            found += [f"disabled: {', '.join(disabled)}"] if disabled else []
            findings.append(_error("guards", f"{what} triggers " + "; ".join(found)))
        else:
            findings.append(
                _ok("guards", f"{what} triggers present and enabled: " + ", ".join(guards["postgresql"]))
            )
    return findings


def check_store(engine: Engine) -> list[Finding]:
    """Consistency and audit guards of the store behind ``engine``."""
    with engine.connect() as conn:
        return _sqlite(conn) if engine.dialect.name == "sqlite" else _postgres(conn)


def check_app_role(engine: Engine, role: str | None) -> list[Finding]:
    """Whether ``role`` (the API's, on PostgreSQL) is kept from getting around the audit trail.

    ``role`` None means the API connects as the owner (the same URL): a warning, since nothing in
    the database then stops it from truncating or altering tables.
    """
    if engine.dialect.name != "postgresql":
        return [
            _warning(
                "access",
                "SQLite has no roles: whoever can write the database file can change anything; "
                "the hash chain shows what was changed without recomputing it (see --anchor)",
            )
        ]
    with engine.connect() as conn:
        owner = str(conn.execute(text("SELECT current_user")).scalar_one())
        if role is None or role == owner:
            return [
                _warning(
                    "access",
                    f"the API connects as {owner}, which owns the tables (it can TRUNCATE, ALTER, DISABLE "
                    "TRIGGER): give it a role of its own (LINECHECK_API_DATABASE_URL for the API, "
                    "LINECHECK_API_OWNER_DATABASE_URL for migrations; `linecheck db grant`)",
                )
            ]
        found = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
        if found is None:
            return [_error("access", f"the API's role {role} does not exist")]
        problems = []
        if found[0]:
            problems.append("is a superuser")
        tables = conn.execute(
            text(
                "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
            )
        ).all()
        for table, table_owner in tables:
            if table_owner == role:
                problems.append(f"owns {table}")
            elif conn.execute(
                text("SELECT pg_has_role(:r, :o, 'USAGE')"), {"r": role, "o": table_owner}
            ).scalar():
                problems.append(f"is a member of {table_owner}, the owner of {table}")
        for table, privilege in (
            (table, privilege) for table, _, _ in _GUARDED for privilege in ("TRUNCATE", "DELETE", "UPDATE")
        ):
            if conn.execute(
                text("SELECT has_table_privilege(:r, :t, :p)"), {"r": role, "t": table, "p": privilege}
            ).scalar():
                problems.append(f"may {privilege} {table}")
        if problems:
            return [_error("access", f"the API's role {role} " + "; ".join(dict.fromkeys(problems)))]
        return [
            _ok(
                "access",
                f"the API's role {role} cannot TRUNCATE, ALTER, DISABLE TRIGGER, DELETE or UPDATE reviews, "
                "audits, holds or hold releases",
            )
        ]


def grant_app_role(engine: Engine, role: str) -> list[str]:
    """Give ``role`` exactly :data:`APP_PRIVILEGES` on the current schema (run as the owner).

    Everything else it held on the schema's tables and sequences is revoked first. Returns the
    statements run. The role itself is created by an administrator (``CREATE ROLE ... LOGIN``).
    """
    if engine.dialect.name != "postgresql":
        raise InvalidFieldError(
            "database_url", engine.url.render_as_string(), "roles exist on PostgreSQL only"
        )
    check_role_name(role)
    done = []
    with engine.begin() as conn:
        owner = str(conn.execute(text("SELECT current_user")).scalar_one())
        if role == owner:
            raise InvalidFieldError(
                "app_role", role, "is the owner of the tables: give the API a role of its own"
            )
        if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first() is None:
            raise InvalidFieldError(
                "app_role", role, f'no such role: CREATE ROLE "{role}" LOGIN PASSWORD ...'
            )
        schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
        statements = [
            f'REVOKE ALL ON ALL TABLES IN SCHEMA "{schema}" FROM "{role}"',
            f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA "{schema}" FROM "{role}"',
            f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"',
            *(
                f'GRANT {grant} ON "{schema}"."{table}" TO "{role}"'
                for table, grant in APP_PRIVILEGES.items()
            ),
            f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"',
        ]
        for statement in statements:
            conn.execute(text(statement))
            done.append(statement)
    return done
