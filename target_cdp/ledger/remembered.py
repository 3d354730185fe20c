"""Remembered ids: values a destination resolved to its own ids once (e.g. an EngageLab
identity), kept in the ledger so later runs need not ask again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from target_cdp.ledger import schema as s
from target_cdp.ledger.database import Database, _chunks, _one_line, utc_now


class RememberedIds(Database):
    """The `cdp_remembered_ids` table: namespace + value -> remote id."""

    @_one_line
    def recall(self, namespace: str, values: Sequence[str]) -> dict[str, str]:
        if not values or self.empty:
            return {}
        r = s.remembered_ids.c
        out: dict[str, str] = {}
        with self._read() as conn:
            for chunk in _chunks(list(dict.fromkeys(values))):
                out.update(
                    conn.execute(
                        sa.select(r.value, r.remote_id).where(
                            r.namespace == namespace, r.value.in_(chunk)
                        )
                    ).all()
                )
        return out

    @_one_line
    def remember(self, namespace: str, ids: Mapping[str, Any]) -> None:
        if self.read_only or not ids:
            return
        now = utc_now()
        rows = [
            {"namespace": namespace, "value": v, "remote_id": str(i), "remembered_at": now}
            for v, i in ids.items()
        ]
        with self._write() as conn:
            conn.execute(
                self._upsert(s.remembered_ids, ["namespace", "value"],
                             columns=("remote_id", "remembered_at")),
                rows,
            )  # fmt: skip

    @_one_line
    def forget(self, namespace: str, values: Sequence[str]) -> None:
        if self.read_only or not values:
            return
        r = s.remembered_ids.c
        with self._write() as conn:
            conn.execute(
                sa.delete(s.remembered_ids).where(r.namespace == namespace, r.value.in_(values))
            )
