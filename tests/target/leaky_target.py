"""A target whose destination raises an error carrying its secrets, to run as a CLI.

`python tests/target/leaky_target.py --config ...`: the plugin as users run it, with the
logging the SDK sets up (one handler), not pytest's.
"""

from __future__ import annotations

from urllib.parse import quote

from core_fake import FakeDest, FakeTarget
from singer_sdk import typing as th

from target_cdp.settings import build_config_schema


class LeakyDest(FakeDest):
    """Fails to build every request, naming both of its secrets (raw and URL-encoded)."""

    secret_settings = frozenset({"token", "passphrase"})
    settings_schema = th.ObjectType(
        *FakeDest.settings_schema.wrapped.values(),
        th.Property("passphrase", th.StringType, secret=True),
    )

    def build(self, route, items):
        phrase = self.settings["passphrase"]
        raise RuntimeError(f"cannot sign with {phrase} ({quote(phrase, safe='')})")


class LeakyTarget(FakeTarget):
    destinations = {"fake": LeakyDest}
    config_jsonschema = build_config_schema(destinations)


if __name__ == "__main__":
    LeakyTarget.cli()
