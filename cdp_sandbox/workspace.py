"""The deterministic PrimeData workspace: profiles and their events, generated lazily per profile.

Profile `i` (0 <= i < profiles) is derived from `(seed, i)` alone, so two workspaces with the same
shape and seed are identical and nothing is materialised up front. Every identity value encodes
its profile index reversibly, so a lookup by `profile_id` or identity is O(1). Generated profiles
sit in an LRU cache; events appended through `add_events` live in an overlay beside it.

Public helpers for tests: `Workspace.profile(i)`, `Workspace.events_for(i, ...)`,
`Workspace.profile_id(i)`, `Workspace.identities(i)`, `Workspace.index_of(profile_id)`,
`Workspace.lookup(name, value)`.
"""

from __future__ import annotations

import functools
import json
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cdp_sandbox.primedata_ids import IdentityCodec
from cdp_sandbox.timeformat import ISO_Z, NAIVE, format_ts, parse_ts

try:  # orjson (the `bench` extra) is ~5x faster; the output is equivalent JSON
    from orjson import dumps as _dumps
except ImportError:  # pragma: no cover

    def _dumps(obj: Any) -> bytes:  # type: ignore[misc,unused-ignore]  # orjson installed or not
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


EVENT_NAMES = ("OrderCreated", "OrderCompleted", "BookingCompleted", "PageView", "AppOpened")
SOURCES = {
    "OrderCreated": "ShopMSSQL",
    "OrderCompleted": "ShopMSSQL",
    "BookingCompleted": "30ShineMSSQL",
    "PageView": "WebSDK",
    "AppOpened": "MobileSDK",
}
WINDOW_START = 1672531200  # 2023-01-01T00:00:00Z: no event before this
WINDOW_END = 1767139200  # 2025-12-31T00:00:00Z: no generated event at or after this
TIE_RATE = 0.05  # share of events that repeat the previous event's timestamp exactly
OVERLAY_SOURCE = "SandboxOverlay"

_NAME_WEIGHTS = (3, 2, 2, 6, 4)
_FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Đặng", "Bùi")
_MIDDLE = {"male": ("Văn", "Hữu", "Đức", "Minh", "Quốc"), "female": ("Thị", "Ngọc", "Thu", "Mỹ")}
_GIVEN = {
    "male": ("Sơn", "Dũng", "Hùng", "Tuấn", "Nam", "Long", "Quân", "Việt", "Đức", "Khánh"),
    "female": ("Hương", "Linh", "Trang", "Thảo", "Yến", "Hạnh", "Phương", "Mai", "Giang"),
}
_CITIES = ("Hà Nội", "TP. Hồ Chí Minh", "Đà Nẵng", "Hải Phòng", "Cần Thơ", "Huế", "Nha Trang")
_STREETS = ("Lê Lợi", "Trần Hưng Đạo", "Nguyễn Huệ", "Hai Bà Trưng", "Lý Thường Kiệt")
_PAGES = ("/", "/dich-vu", "/dat-lich", "/khuyen-mai", "/san-pham/sap-vuot-toc", "/gio-hang")

# One event as the server keeps it: (epoch seconds, order key, event name, JSON bytes).
Event = tuple[float, int, str, bytes]


@dataclass(frozen=True)
class ProfileData:
    """One generated profile: its API object and its events (default order and time order)."""

    profile: dict[str, Any]
    events: tuple[Event, ...]  # the API's default order: deterministic, not time-sorted
    asc: tuple[Event, ...]  # by (time, order key)


class Workspace:
    """A PrimeData workspace of `profiles` profiles with `events_per_profile` events each."""

    def __init__(
        self,
        profiles: int = 100,
        events_per_profile: int = 20,
        seed: int = 42,
        cache_size: int | None = None,
    ) -> None:
        self.profiles, self.events_per_profile, self.seed = profiles, events_per_profile, seed
        self.ids = IdentityCodec(profiles, seed)
        self._overlay: dict[int, list[Event]] = {}
        self._overlay_names: set[str] = set()
        self._overlay_count = 0
        self._profile_overlay: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        size = cache_size or max(256, min(10_000, 400_000 // max(1, events_per_profile)))
        self._data = functools.lru_cache(maxsize=size)(self._generate)

    @classmethod
    def from_config(cls, config: Any) -> Workspace:
        """From a `cdp_sandbox.config.Workspace` (profiles, events_per_profile, seed)."""
        return cls(config.profiles, config.events_per_profile, config.seed)

    # identities (see `IdentityCodec`) ---------------------------------------------------
    def profile_id(self, i: int) -> str:
        """The 27-character KSUID-like PrimeData id of profile `i`."""
        return self.ids.profile_id(i)

    def identities(self, i: int) -> dict[str, list[str]]:
        """Identity name -> values of profile `i` (a copy)."""
        return self.ids.identities(i)

    def index_of(self, profile_id: str) -> int | None:
        """The index of the profile with this id, or None."""
        return self.ids.index_of(profile_id)

    def lookup(self, name: str, value: object) -> int | None:
        """The index of the profile having identity `name` = `value`, or None."""
        return self.ids.lookup(name, value)

    # generation --------------------------------------------------------------------------
    def _generate(self, i: int) -> ProfileData:
        rng = random.Random(self.seed * 1_000_003 + i)
        pid, ident = self.ids.profile_id(i), self.ids.identities(i)
        gender = rng.choice(("male", "female"))
        full_name = " ".join(
            (rng.choice(_FAMILY), rng.choice(_MIDDLE[gender]), rng.choice(_GIVEN[gender]))
        )
        phone, crm = ident["phone_number"][0], ident["crm_user_id"][0]
        email = ident["email"][0]
        n = self.events_per_profile
        first = WINDOW_START + rng.randrange((WINDOW_END - WINDOW_START) // 2)
        times = sorted(rng.randrange(first, WINDOW_END) for _ in range(n))
        for k in range(1, n):
            if rng.random() < TIE_RATE:
                times[k] = times[k - 1]
        names = rng.choices(EVENT_NAMES, _NAME_WEIGHTS, k=n)
        events: list[Event] = []
        ltv, last_purchase = 0, None
        for k, (ts, name) in enumerate(zip(times, names, strict=True)):
            number = i * n + k + 1
            style = (i + k) % 3
            props: dict[str, Any] = {
                "at": format_ts(ts, NAIVE),
                "full_name": full_name,
                "phone_number": phone,
                "customer_id": crm,
            }
            if name in ("OrderCreated", "OrderCompleted"):
                revenue = rng.randrange(50, 5000) * 1000
                props.update(
                    order_id=f"ORD{number:09d}",
                    order_date=format_ts(ts, ISO_Z),
                    order_revenue=revenue,
                )
                if name == "OrderCompleted":
                    ltv, last_purchase = ltv + revenue, ts
                    props["payment_method"] = rng.choice(("cash", "card", "momo", "zalopay"))
            elif name == "BookingCompleted":
                props.update(
                    booking_id=f"BK{number:09d}",
                    salon=rng.choice(_CITIES),
                    booking_completed_time=format_ts(ts, ISO_Z),
                )
            else:
                props["email"] = email
                if name == "PageView":
                    props.update(page_url=rng.choice(_PAGES), referrer=rng.choice(("", "google")))
                else:
                    props.update(platform=rng.choice(("ios", "android")), app_version="4.2.1")
            event = {
                "id": f"{SOURCES[name]}.{name}.{number}",
                "profile_id": pid,
                "event_name": name,
                "time_stamp": format_ts(ts, style),
                "sent_at": format_ts(ts + rng.randrange(0, 120), style),
                "input_schema_version": "0.1",
                "properties": props,
            }
            events.append((ts, k, name, _dumps(event)))
        asc = tuple(events)
        rng.shuffle(events)
        p_trait: dict[str, Any] = {"ltv": ltv}
        if last_purchase is not None:
            p_trait["last_time_purchased"] = format_ts(last_purchase, (i + 1) % 3)
        profile = {
            "profile_id": pid,
            "last_updated": format_ts(max(times, default=first) + rng.randrange(60, 86400), i % 3),
            "identity": {k: list(v) for k, v in ident.items()},
            "trait": {
                "full_name": full_name,
                "gender": gender,
                "country": "VN",
                "address": f"{rng.randrange(1, 300)} {rng.choice(_STREETS)}, {rng.choice(_CITIES)}",
                "birthday": f"{rng.randrange(1960, 2006)}-{rng.randrange(1, 13):02d}-"
                f"{rng.randrange(1, 29):02d}",
            },
            "p_trait": p_trait,
        }
        return ProfileData(profile, tuple(events), asc)

    # reading -----------------------------------------------------------------------------
    def event_names(self) -> set[str]:
        """Every event name the workspace knows (generated ones and any added)."""
        return set(EVENT_NAMES) | self._overlay_names

    def raw_profile(self, i: int) -> dict[str, Any]:
        """Profile `i`'s API object, with any change made through `update_profile`
        (shared: do not modify)."""
        changed = self._profile_overlay.get(i)
        return changed if changed is not None else self._data(i).profile

    def profile(self, i: int) -> dict[str, Any]:
        """Profile `i` as the profiles API's `data` (all sections; a copy)."""
        profile: dict[str, Any] = json.loads(json.dumps(self.raw_profile(i)))
        return profile

    def update_profile(
        self,
        i: int,
        trait: dict[str, Any] | None = None,
        p_trait: dict[str, Any] | None = None,
        last_updated: str | None = None,
    ) -> dict[str, Any]:
        """Merge `trait`/`p_trait` into profile `i` and move its `last_updated` (default: now,
        in whole seconds; any other string is served as given, to play a broken upstream);
        return the new profile. Raises ValueError on a malformed change."""
        for name, section in (("trait", trait), ("p_trait", p_trait)):
            if section is not None and not isinstance(section, dict):
                raise ValueError(f"{name} must be an object")
        if last_updated is None:
            last_updated = format_ts(int(time.time()), ISO_Z)
        elif not isinstance(last_updated, str):
            raise ValueError("last_updated must be a string")
        with self._lock:
            profile: dict[str, Any] = json.loads(json.dumps(self.raw_profile(i)))
            profile["trait"].update(trait or {})
            profile["p_trait"].update(p_trait or {})
            profile["last_updated"] = last_updated
            self._profile_overlay[i] = profile
        return profile

    def select(
        self,
        i: int,
        start: float | None = None,
        end: float | None = None,
        include: Iterable[str] | None = None,
        sort: str | None = None,
    ) -> list[Event]:
        """Events of profile `i` with `start < time < end`, named in `include`, in `sort` order
        ("asc", "desc", or None for the API's default order)."""
        data = self._data(i)
        events, asc = data.events, data.asc
        extra = self._overlay.get(i)
        if extra:
            with self._lock:
                events = events + tuple(extra)
            asc = tuple(sorted(events, key=lambda e: (e[0], e[1])))
        chosen: Iterable[Event] = asc if sort else events
        include = list(include or ()) or None  # an empty list means all, like absent
        if start is not None or end is not None or include is not None:
            lo = float("-inf") if start is None else start
            hi = float("inf") if end is None else end
            names = set(include) if include is not None else None
            chosen = [e for e in chosen if lo < e[0] < hi and (names is None or e[2] in names)]
        chosen = list(chosen)
        if sort == "desc":
            chosen.reverse()
        return chosen

    def events_for(
        self,
        i: int,
        start: str | None = None,
        end: str | None = None,
        include: Iterable[str] | None = None,
        sort: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every event of profile `i` the events API would return for these parameters, as dicts
        (`start`/`end` are ISO 8601 strings, exclusive; default order without `sort`)."""
        lo = None if start is None else parse_ts(start)
        hi = None if end is None else parse_ts(end)
        return [json.loads(e[3]) for e in self.select(i, lo, hi, include, sort)]

    # overlay -----------------------------------------------------------------------------
    def add_events(self, i: int, events: list[dict[str, Any]]) -> list[str]:
        """Append events (`event_name`, `time_stamp`, optional `id`, `sent_at`, `properties`)
        to profile `i`; return their ids. Raises ValueError on a malformed event."""
        parsed = []
        for event in events:
            name, stamp = event.get("event_name"), event.get("time_stamp")
            if not isinstance(name, str) or not name:
                raise ValueError("each event needs an event_name")
            epoch = parse_ts(stamp)  # ValueError when missing or malformed
            props = event.get("properties", {})
            if not isinstance(props, dict):
                raise ValueError("properties must be an object")
            try:
                _dumps(props)
            except TypeError as exc:  # orjson's encode error (e.g. integers over 64 bits)
                raise ValueError(f"properties cannot be encoded: {exc}") from None
            parsed.append((name, stamp, epoch, props, event))
        pid, ids = self.profile_id(i), []
        with self._lock:
            extra = self._overlay.setdefault(i, [])
            for name, stamp, epoch, props, event in parsed:
                self._overlay_count += 1
                eid = event.get("id") or f"{OVERLAY_SOURCE}.{name}.{self._overlay_count}"
                body = {
                    "id": str(eid),
                    "profile_id": pid,
                    "event_name": name,
                    "time_stamp": stamp,
                    "sent_at": event.get("sent_at") or stamp,
                    "input_schema_version": "0.1",
                    "properties": props,
                }
                extra.append((epoch, self.events_per_profile + len(extra), name, _dumps(body)))
                self._overlay_names.add(name)
                ids.append(str(eid))
        return ids

    def clear_overlay(self) -> None:
        """Forget every added event."""
        with self._lock:
            self._overlay.clear()
            self._overlay_names.clear()
            self._profile_overlay.clear()
