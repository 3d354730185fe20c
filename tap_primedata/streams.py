"""The `profiles` and `events` streams."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from singer_sdk import typing as th
from singer_sdk.helpers.types import Context
from singer_sdk.singerlib.catalog import REPLICATION_FULL_TABLE

from tap_primedata import timestamps as ts
from tap_primedata.bookmarks import STATE_KEY, Bookmark, EventBookmarks
from tap_primedata.client import Checkpoints, PrimeDataStream
from tap_primedata.lookups import Lookup, LookupSource
from tap_primedata.profile_marks import ProfileMarks, request_fingerprint
from tap_primedata.transport import CursorPaginator, LookupContext, Tally


@dataclass(frozen=True, slots=True)
class Job:
    """One lookup to read, and (for events) where it resumes."""

    lookup: Lookup
    bookmark: Bookmark | None = None


def job_of(context: Context | None) -> Job:
    """The job riding on the context `_fetch` gave `request_records`."""
    if not isinstance(context, LookupContext):
        raise TypeError(f"expected a lookup's context, got {context!r}")
    job: Job = context.job
    return job


def unique(source: Iterable[Lookup], tally: Tally) -> Iterator[Lookup]:
    """Each lookup once, even when listed twice."""
    seen: set[int] = set()
    for lookup in source:
        if lookup.id in seen:
            tally.add("duplicate_lookups")
            continue
        seen.add(lookup.id)
        yield lookup


class ProfilesStream(PrimeDataStream):
    """One record per lookup: the profile's identities, traits and p-traits.

    Incremental on `last_updated`, compared as a value (see `profile_marks.py`): a run emits
    the profiles whose lookup is new or whose `last_updated` changed. Catalog metadata
    `replication-method: FULL_TABLE` emits every profile every run.
    """

    name = "profiles"
    _marks: ProfileMarks | None
    path = "/pub/profiles/advanced-search"
    primary_keys = ("profile_id",)
    replication_key = "last_updated"
    is_sorted = False
    STATE_MSG_FREQUENCY = 2**62  # STATE is emitted by `checkpoint`, at a bounded rate
    schema = th.PropertiesList(
        th.Property("profile_id", th.StringType, required=True),
        th.Property("last_updated", th.DateTimeType),
        th.Property(
            "identity",
            th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
            description="identity name -> values",
        ),
        th.Property("trait", th.ObjectType(additional_properties=True)),
        th.Property("p_trait", th.ObjectType(additional_properties=True)),
        th.Property(
            "lookup",
            th.ObjectType(
                th.Property("profile_id", th.StringType),
                th.Property("identity", th.StringType),
                th.Property("value", th.StringType),
            ),
            description="the configured lookup that found this profile",
        ),
    ).to_dict()

    def get_new_paginator(self) -> None:
        return None

    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        return None  # `last_updated` is compared per lookup, by value (profile_marks.py)

    @property
    def full_table(self) -> bool:
        """Whether the catalog asks for every profile every run."""
        return self.replication_method == REPLICATION_FULL_TABLE

    def load_marks(self) -> ProfileMarks:
        """This run's fingerprints, read from the state once (StateUnreadable when bad)."""
        if self._marks is None:
            self._marks = ProfileMarks(self.stream_state, request_fingerprint(self.config))
        return self._marks

    def prepare_request_payload(
        self, context: Context | None, next_page_token: Any
    ) -> dict[str, Any]:
        body = dict(job_of(context).lookup.request_fields())
        if self.config.get("profile_types"):
            body["type"] = list(self.config["profile_types"])
        if self.config.get("profile_properties"):
            body["include"] = list(self.config["profile_properties"])
        return body

    def _fetch(self, job: Job) -> Iterator[list[dict[str, Any]]]:
        for raw in self.request_records(LookupContext(job)):
            if raw.get("profile_id"):
                yield [self._record(raw, job.lookup)]

    def _record(self, raw: dict[str, Any], lookup: Lookup) -> dict[str, Any]:
        updated = raw.get("last_updated")
        if updated not in (None, ""):
            try:
                updated = ts.normalize(updated, self.naive_tz)
            except ValueError:
                self.logger.warning(
                    "Unparseable last_updated %r kept as null (the profile is sent every run)",
                    updated,
                )
                updated = None
        identity = raw.get("identity")
        if isinstance(identity, dict):  # sections not asked for (`profile_types`) stay null
            identity = {
                k: [str(v) for v in (vals if isinstance(vals, list) else [vals])]
                for k, vals in identity.items()
            }
        return {
            "profile_id": str(raw["profile_id"]),
            "last_updated": updated or None,
            "identity": identity,
            "trait": raw.get("trait"),
            "p_trait": raw.get("p_trait"),
            "lookup": lookup.as_record(),
        }

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        marks, every_all = self.load_marks(), self.full_table
        tally, source = Tally(), self.lookup_source()
        jobs = (Job(lookup) for lookup in unique(source, tally))
        checkpoints = Checkpoints(self, marks.checkpoint)
        for item in self.run_lookups(jobs, self._fetch, tally, source):
            for record in item.batch or ():
                if marks.changed(item.job.lookup.id, record["last_updated"]) or every_all:
                    tally.add("records")
                    yield record  # the SDK writes it before this generator resumes
                    checkpoints.count(1)
                else:
                    tally.add("profiles_unchanged")
            checkpoints.maybe()
        self.set_final_state(STATE_KEY, marks.finish())
        self.log_summary(tally, source)


class EventsStream(PrimeDataStream):
    """Every event of every lookup, per profile in time order, read incrementally."""

    name = "events"
    _marks: EventBookmarks | None
    path = "/pub/events/advanced-search"
    primary_keys = ("id",)
    replication_key = "time_stamp"
    is_sorted = False  # sorted per profile, not across profiles
    STATE_MSG_FREQUENCY = 2**62  # STATE is emitted by `checkpoint`, at a bounded rate
    schema = th.PropertiesList(
        th.Property("id", th.StringType, required=True),
        th.Property("profile_id", th.StringType),
        th.Property("event_name", th.StringType),
        th.Property("time_stamp", th.DateTimeType, required=True, description="RFC 3339 UTC"),
        th.Property("sent_at", th.DateTimeType, description="RFC 3339 UTC"),
        th.Property("input_schema_version", th.StringType),
        th.Property("properties", th.ObjectType(additional_properties=True)),
    ).to_dict()

    def get_new_paginator(self) -> CursorPaginator:
        return CursorPaginator()

    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        return None  # the run's end is `end_date`, kept in our own bookmarks

    def load_marks(self) -> EventBookmarks:
        """This run's bookmarks, read from the state once (StateUnreadable when bad)."""
        if self._marks is None:
            start, end = self.tap.window
            lookback = float(self.config["lookback_window"])
            self._marks = EventBookmarks(self.stream_state, start, end, lookback)
        return self._marks

    def prepare_request_payload(
        self, context: Context | None, next_page_token: Any
    ) -> dict[str, Any]:
        job = job_of(context)
        body: dict[str, Any] = {
            **job.lookup.request_fields(),
            "sort": "asc",
            "limit": int(self.config["page_size"]),
            "end": self.tap.window[1],
        }
        if job.bookmark is not None:
            body["start"] = job.bookmark.request_start()
        if self.config.get("event_names"):
            body["include"] = list(self.config["event_names"])
        if next_page_token:
            body["cursor"] = next_page_token
        return body

    def _jobs(self, marks: EventBookmarks, source: LookupSource, tally: Tally) -> Iterator[Job]:
        for lookup in unique(source, tally):
            bookmark = marks.bookmark_for(lookup.id)
            if marks.is_current(bookmark):
                tally.add("lookups_up_to_date")
                tally.add("lookups_done")
                continue
            yield Job(lookup, bookmark)

    def _fetch(self, job: Job) -> Iterator[list[tuple[int, dict[str, Any]]]]:
        """Runs on a worker thread: this lookup's new events, normalized, in batches."""
        tally: Tally = self._tally
        bookmark, end_key, tz = job.bookmark, self.load_marks().end_key, self.naive_tz
        size = int(self.config["page_size"])
        batch: list[tuple[int, dict[str, Any]]] = []
        for raw in self.request_records(LookupContext(job)):
            event_id = raw.get("id")
            try:
                text, key = ts.normalize_with_key(raw.get("time_stamp"), tz)
            except ValueError:
                tally.add("events_bad_time_stamp")
                self.logger.warning(
                    "Event %s skipped: time_stamp %r", event_id, raw.get("time_stamp")
                )
                continue
            if event_id in (None, "") or key >= end_key:
                continue
            event_id = str(event_id)
            if bookmark is not None and not bookmark.keep(key, event_id):
                continue
            batch.append((key, self._record(raw, event_id, text, tz)))
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _record(
        self, raw: dict[str, Any], event_id: str, time_stamp: str, tz: Any
    ) -> dict[str, Any]:
        sent_at = raw.get("sent_at")
        if sent_at not in (None, ""):
            try:
                sent_at = ts.normalize(sent_at, tz)
            except ValueError:
                self._tally.add("events_bad_sent_at")
                sent_at = None
        version = raw.get("input_schema_version")
        return {
            "id": event_id,
            "profile_id": raw.get("profile_id"),
            "event_name": raw.get("event_name"),
            "time_stamp": time_stamp,
            "sent_at": sent_at or None,
            "input_schema_version": None if version is None else str(version),
            "properties": raw.get("properties") or {},
        }

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        marks = self.load_marks()
        tally = Tally()
        source = self.lookup_source()
        checkpoints = Checkpoints(self, marks.checkpoint)
        jobs = self._jobs(marks, source, tally)
        for item in self.run_lookups(jobs, self._fetch, tally, source):
            if item.batch:
                for _, record in item.batch:
                    yield record  # the SDK writes it before this generator resumes
                marks.advance(item.job.lookup.id, item.job.bookmark, item.batch)
                tally.add("records", len(item.batch))
                checkpoints.count(len(item.batch))
            if item.done and item.error is None:
                tally.add("lookups_read")
            checkpoints.maybe()
        self.set_final_state(STATE_KEY, marks.finish())
        self.log_summary(tally, source)
