"""The ledger's database: its URL, the engine, the schema created or checked, transactions.

SQLAlchemy Core on SQLite (default) or PostgreSQL (psycopg). SQLite runs in WAL mode with a
busy timeout, and write transactions start with `BEGIN IMMEDIATE` so two processes sharing one
file wait for each other instead of failing on a lock upgrade. A read-only ledger (dry run)
reads and never writes. The queries are in `store` (and `remembered`).
"""

from __future__ import annotations

import datetime
import functools
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from target_cdp.ledger import schema as s

SETTING = "ledger_uri"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_CHUNK = 900  # keys per IN (...) list


class LedgerError(Exception):
    """The ledger cannot be used: one line naming `ledger_uri`, the password never shown."""


_F = TypeVar("_F", bound=Callable[..., Any])


def _one_line(method: _F) -> _F:
    """A database error inside a ledger call becomes a LedgerError of one line."""

    @functools.wraps(method)
    def wrapper(self: Database, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            if not isinstance(exc, (SQLAlchemyError, OSError, *self.driver_errors)):
                raise
            raise LedgerError(
                f"{SETTING}: the ledger at {shown(self.url)} failed: {_reason(exc)}"
            ) from None

    return wrapper  # type: ignore[return-value]  # `wraps` keeps the signature of `method`


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def parse_uri(uri: str | None) -> URL | None:
    """The SQLAlchemy URL for `ledger_uri` (None: `none`, the ledger is off)."""
    text = (uri or "").strip()
    if not text or text.lower() == "none":
        return None
    try:
        url = make_url(text)
    except ArgumentError:
        raise LedgerError(
            f"{SETTING}: not a URL; use sqlite:///PATH, "
            "postgresql://USER:PASSWORD@HOST:PORT/DB or none"
        ) from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise LedgerError(
            f"{SETTING}: unsupported database '{backend}'; use sqlite:///PATH, "
            "postgresql://USER:PASSWORD@HOST:PORT/DB or none"
        )
    if backend == "sqlite" and not url.database:
        raise LedgerError(f"{SETTING}: sqlite needs a file path (sqlite:///PATH)")
    return url


def shown(url: URL) -> str:
    """The URL as it may appear in a message: the password masked."""
    return url.render_as_string(hide_password=True)


class Database:
    """One ledger database: opened, its schema created or checked, transactions on it."""

    def __init__(self, url: URL, *, read_only: bool = False) -> None:
        self.url = url
        self.read_only = read_only
        self.engine: Engine | None = None
        self.dialect = url.get_backend_name()
        self.empty = False
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None

    # opening ------------------------------------------------------------------------
    def open(self) -> None:
        """Connect, create or check the schema; LedgerError (one line) when it cannot work."""
        if (
            self.read_only
            and self.dialect == "sqlite"
            and not os.path.exists(self.url.database or "")
        ):
            self.empty = True  # a dry run creates no file: nothing was delivered yet
            return
        try:
            self.engine = self._engine()
            self._ensure_schema()
        except LedgerError:
            raise
        except ImportError as exc:
            raise LedgerError(
                f"{SETTING}: PostgreSQL needs the psycopg package "
                f"(pip install 'cdp-connectors[postgres]'): {exc}"
            ) from None
        except (SQLAlchemyError, OSError) as exc:
            raise LedgerError(
                f"{SETTING}: cannot use the ledger at {shown(self.url)}: {_reason(exc)}"
            ) from None

    def _engine(self) -> Engine:
        if self.dialect == "sqlite":
            path = self.url.database or ""
            if path != ":memory:" and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
                raise LedgerError(
                    f"{SETTING}: cannot use the ledger at {shown(self.url)}: "
                    f"directory {os.path.dirname(os.path.abspath(path))} does not exist"
                )
            engine = sa.create_engine(
                self.url,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
                pool_size=8,
                max_overflow=8,
                pool_reset_on_return=None,  # every transaction here ends in commit or rollback
            )
            sa.event.listen(engine, "connect", _sqlite_connect)
            self.driver_errors = (engine.dialect.dbapi.Error,)  # type: ignore[union-attr]
            sa.event.listen(engine, "begin", _sqlite_begin)
            return engine
        # prepare_threshold None: no server-side prepared statements, whose generic plans
        # can scan a whole route for an IN list of keys
        connect_args: dict[str, Any] = {"connect_timeout": 10, "prepare_threshold": None}
        engine = sa.create_engine(
            self.url,
            connect_args=connect_args,
            pool_size=8,
            max_overflow=8,
            pool_recycle=1800,
            pool_reset_on_return=None,  # every transaction here ends in commit or rollback
        )
        self.driver_errors = (engine.dialect.dbapi.Error,)  # type: ignore[union-attr]
        return engine

    def _ensure_schema(self) -> None:
        assert self.engine is not None
        for attempt in range(5):
            try:
                with self._write() as conn:
                    found = self._version(conn)
                    if found is None and not self.read_only:
                        s.metadata.create_all(conn, checkfirst=True)
                        conn.execute(
                            self._upsert(s.meta, ["name"], {"name": "schema_version",
                                                            "value": str(s.SCHEMA_VERSION)},
                                         update=False)
                        )  # fmt: skip
                        found = s.SCHEMA_VERSION
                break
            except SQLAlchemyError:  # another process created the tables at the same moment
                if attempt == 4:
                    raise
                time.sleep(0.1 * (attempt + 1))
        if found is not None and found > s.SCHEMA_VERSION:
            raise LedgerError(
                f"{SETTING}: the ledger at {shown(self.url)} was written by a newer target-cdp "
                f"(schema {found}; this release knows up to {s.SCHEMA_VERSION}): upgrade "
                "target-cdp or point ledger_uri at another ledger"
            )
        self.schema_version = found
        self.empty = found is None  # a dry run on a ledger never written: nothing to read

    def _version(self, conn: Connection) -> int | None:
        if not sa.inspect(conn).has_table(s.meta.name):
            return None
        value = conn.execute(
            sa.select(s.meta.c.value).where(s.meta.c.name == "schema_version")
        ).scalar()
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()

    # connections --------------------------------------------------------------------
    def _write(self) -> Any:
        """A write transaction (BEGIN IMMEDIATE on SQLite). On SQLite this process's writers
        queue on a lock first: SQLite's own busy handler sleeps up to 100 ms between tries."""
        assert self.engine is not None
        conn = self.engine.connect().execution_options(cdp_write=True)
        return _Transaction(conn, self._write_lock)

    def _single(self) -> Any:
        """A connection in autocommit for one statement (PostgreSQL)."""
        assert self.engine is not None
        return _Autocommit(self.engine.connect().execution_options(isolation_level="AUTOCOMMIT"))

    def _read(self) -> Any:
        assert self.engine is not None
        return _Transaction(self.engine.connect())

    def _insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT (it knows ON CONFLICT)."""
        if self.dialect == "sqlite":
            from sqlalchemy.dialects import sqlite

            return sqlite.insert(table)
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)

    def _upsert(
        self, table: sa.Table, index: list[str], row: Mapping[str, Any] | None = None, *,
        update: bool = True, columns: Sequence[str] = (),
    ) -> Any:  # fmt: skip
        """INSERT ... ON CONFLICT (index) DO UPDATE SET columns (or DO NOTHING)."""
        stmt = self._insert(table)
        if row is not None:
            stmt = stmt.values(**row)
        if not update:
            return stmt.on_conflict_do_nothing(index_elements=index)
        return stmt.on_conflict_do_update(
            index_elements=index, set_={c: stmt.excluded[c] for c in columns}
        )

    def _now_param(self) -> Any:
        """The current time as the driver stores it (SQLite: SQLAlchemy's text format)."""
        now = utc_now()
        return now.strftime("%Y-%m-%d %H:%M:%S.%f") if self.dialect == "sqlite" else now


class _Transaction:
    """`with ledger._write() as conn:` one transaction on its own pooled connection."""

    def __init__(self, conn: Connection, lock: threading.Lock | None = None) -> None:
        self.conn = conn
        self.lock = lock

    def __enter__(self) -> Connection:
        if self.lock is not None:
            self.lock.acquire()
        try:
            self.trans = self.conn.begin()
        except BaseException:
            self._release()
            raise
        return self.conn

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        try:
            if kind is None:
                self.trans.commit()
            else:
                self.trans.rollback()
        finally:
            self._release()

    def _release(self) -> None:
        try:
            self.conn.close()
        finally:
            if self.lock is not None:
                self.lock.release()


class _Autocommit:
    """`with ledger._single() as conn:` one autocommitted statement on a pooled connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        return self.conn

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        self.conn.close()


def _sqlite_connect(dbapi_conn: Any, record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    # sqlite3 looks for an adapter for every parameter that is not exactly an int, float or
    # str, and for None and booleans it fails twice (an AttributeError built and dropped per
    # parameter: a fifth of the ledger writer's time). Registered, they bind as they would.
    sqlite3.register_adapter(type(None), _as_null)
    sqlite3.register_adapter(bool, int)
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _as_null(value: None) -> None:
    """The adapter of None: NULL, as sqlite3 binds it without one."""
    return value


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get("cdp_write")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _fetch(conn: Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """All rows of one query on the DBAPI cursor itself (no per-row processing)."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _reason(exc: BaseException) -> str:
    """The first line of a driver error, without SQLAlchemy's background links."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]
