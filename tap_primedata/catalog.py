"""Reading the replication method users set in catalog metadata.

The Singer spec lets a user choose a stream's method with `replication-method` in the
stream's metadata (Meltano's `metadata:` extra writes exactly that); the SDK reads only
`forced-replication-method` and the entry's `replication_method` (which discovery fills in).
This copies the user's choice over the latter, so `replication-method: FULL_TABLE` on
`profiles` works either way.
"""

from __future__ import annotations

import copy
import json
from collections.abc import MutableMapping
from pathlib import PurePath
from typing import Any


def replication_methods_from_metadata(catalog: Any) -> Any:
    """`catalog` (a path, a dict or None) with each stream's metadata `replication-method`
    copied over its `replication_method`; anything else is returned as given."""
    if isinstance(catalog, (str, PurePath)):
        with open(catalog, encoding="utf-8") as file:
            catalog = json.load(file)
    if not isinstance(catalog, MutableMapping):
        return catalog
    catalog = copy.deepcopy(catalog)
    for entry in catalog.get("streams") or []:
        if not isinstance(entry, MutableMapping):
            continue
        for item in entry.get("metadata") or []:
            if isinstance(item, MutableMapping) and not item.get("breadcrumb"):
                method = (item.get("metadata") or {}).get("replication-method")
                if method:
                    entry["replication_method"] = method
    return catalog
