"""Routes: what every route has, and the options each destination declares and checks itself
(unknown keys and wrongly typed options refused naming the route), as `--about` and the README
show them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from core_fake import record, run, schema
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from target_cdp.routes import COMMON_KEYS, Route
from target_cdp.target import TargetCDP
from target_cdp.vendors import load_destinations
from target_cdp.vendors.base import ConfigError, Destination

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {
    "dmartech": {"api_url": "https://d.example", "secret": "s3cr3t"},
    "engagelab": {"api_key": "key-1", "api_secret": "secret-2"},
    "nxcloud": {"access_key": "ak", "access_secret": "as", "tenant_id": 1, "app_key": "a"},
}


DESTINATIONS = load_destinations()


def destination(name: str) -> Destination:
    return DESTINATIONS[name](SETTINGS[name])


def test_keys_beyond_the_common_ones_are_the_destination_options():
    entry = {"stream": "e", "destination": "dmartech", "type": "event", "diff": True,
             "event_name": "visit", "create_time_property": "at"}  # fmt: skip
    route = Route.from_config(entry)
    assert (route.diff, route.delete_missing) == (True, False)
    assert route.options == {"event_name": "visit", "create_time_property": "at"}


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ({"destination": "dmartech", "type": "user", "event_name": "x"}, "event_name"),
        ({"destination": "dmartech", "type": "event", "event_name": "x", "typo": 1}, "typo"),
        ({"destination": "engagelab", "type": "user", "time_property": "at"}, "time_property"),
        ({"destination": "nxcloud", "type": "customer", "identity_property": "id"},
         "identity_property"),
    ],
)  # fmt: skip
def test_a_key_its_route_type_does_not_take_is_refused_naming_route_and_key(entry, key):
    route = Route.from_config({"stream": "s", **entry})
    with pytest.raises(ConfigError) as err:
        destination(entry["destination"]).check_route(route)
    message = str(err.value)
    assert f"route '{route.label}' has an unknown key '{key}'" in message
    assert "\n" not in message


ROUTE_TYPES = sorted((name, kind) for name in SETTINGS for kind in DESTINATIONS[name].route_options)


@settings(deadline=None)
@given(st.sampled_from(ROUTE_TYPES), st.text(min_size=1, max_size=40))
def test_any_key_a_route_type_does_not_declare_is_refused(route_type, key):
    name, kind = route_type
    declared = DESTINATIONS[name].route_options[kind].to_dict()["properties"]
    assume(key not in COMMON_KEYS and key not in declared)
    entry = {"stream": "s", "destination": name, "type": kind, key: "x"}
    if kind == "event":
        entry.setdefault("event_name", "visit")
    with pytest.raises(ConfigError, match="has an unknown key"):
        destination(name).check_route(Route.from_config(entry))


def test_an_option_of_the_wrong_kind_is_refused_naming_it():
    route = Route.from_config(
        {"stream": "s", "destination": "engagelab", "type": "user", "identity_property": 5}
    )
    with pytest.raises(ConfigError, match=r"'s -> engagelab:user': option identity_property "):
        destination("engagelab").check_route(route)


def test_an_unknown_key_stops_the_run_before_any_input(sandbox, tmp_path, caplog):
    cfg: dict[str, Any] = {
        "dmartech": {"api_url": sandbox.url, "secret": sandbox.credentials.dmartech_secret},
        "mappings": [
            {
                "stream": "people",
                "destination": "dmartech",
                "type": "user",
                "create_time_property": "at",
            }
        ],
    }
    result = run(cfg, [schema(), record({"id": 1})], tmp_path, caplog, target_class=TargetCDP)
    assert result.exit_code == 2
    assert "route 'people -> dmartech:user' has an unknown key 'create_time_property'" in (
        result.logs
    )
    assert sandbox.received()["dmartech"]["users"] == []


def readme_routes() -> list[dict[str, Any]]:
    """Every route written in the README's mapping section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Mapping recipes", 1)[1].split("\n## ", 1)[0]
    routes = []
    for block in re.findall(r"```json\n(.*?)```", section, re.S):
        try:
            value = json.loads(block)
        except ValueError:
            value = json.loads("{" + block + "}")  # a fragment of a config
        found = value.get("mappings", [value]) if isinstance(value, dict) else value
        routes += [r for r in found if isinstance(r, dict) and "destination" in r]
    return routes


def test_every_route_in_the_readme_mapping_section_is_accepted_by_its_destination():
    routes = readme_routes()
    assert {r["destination"] for r in routes} == {"dmartech", "engagelab", "nxcloud"}
    for entry in routes:
        destination(entry["destination"]).check_route(Route.from_config(entry))


def test_about_lists_each_destination_route_types_and_options():
    text = subprocess.run(
        [sys.executable, "-m", "target_cdp", "--about"], capture_output=True, text=True, check=True
    ).stdout
    assert "  - dmartech event: event_name, event_name_property" in text
    assert "  - engagelab user: identity_property" in text
    assert "  - nxcloud customer: no options" in text


def test_values_and_answers_import_no_destination():
    code = (
        "import sys, target_cdp.convert, target_cdp.answers, target_cdp.routes; "
        "print([m for m in sys.modules if m.startswith('target_cdp.vendors')])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_destination_reads_its_defaults_from_its_settings_schema():
    for name, cls in load_destinations().items():
        dest = cls(SETTINGS[name])
        for key, prop in cls.settings_schema.to_dict()["properties"].items():
            if prop.get("default") is not None:
                assert dest.settings[key] == prop["default"], f"{name}.{key}"
