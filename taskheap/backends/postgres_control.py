"""PostgreSQL's cancel (sql/cancel.sql: a waiting job at once, a request for a running one), the
cancel-request poll and the progress write (sql/cancel_requests.sql, sql/record_progress.sql),
as a base of PostgresBackend, whose `_rows` runs them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .base import ProgressUpdate


class ControlStatements:
    def _rows(
        self, *steps: tuple[str, Mapping[str, Any]], prepare: bool | None = None
    ) -> list[tuple[Any, ...]]:
        raise NotImplementedError  # PostgresBackend's

    def cancel(self, job_id: str, now: float | None = None) -> bool:
        return bool(self._rows(("cancel", {"id": job_id, "now": now})))

    def record_progress(self, updates: Sequence[ProgressUpdate], now: float | None = None) -> list[str]:
        if not updates:
            return []
        ids, tokens, progress = (list(column) for column in zip(*updates, strict=True))
        params = {"ids": ids, "tokens": tokens, "progress": progress, "now": now}
        return [job_id for (job_id,) in self._rows(("record_progress", params))]

    def cancel_requests(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return {job_id for (job_id,) in self._rows(("cancel_requests", {"ids": list(ids)}))}
