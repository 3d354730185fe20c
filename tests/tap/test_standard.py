"""The Singer SDK's standard tap tests, against a sandbox started for this module.

`get_tap_test_class` builds the test class at import time, so the sandbox it talks to is
started at import time too (on a free port, in a daemon thread) and stopped at exit.
"""

from __future__ import annotations

import atexit

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from cdp_sandbox.config import SandboxConfig, Workspace
from cdp_sandbox.server import start_in_thread
from tap_primedata.tap import TapPrimeData

_SERVER = start_in_thread(SandboxConfig(workspace=Workspace(profiles=8, events_per_profile=12)))
atexit.register(_SERVER.shutdown)
_WS = _SERVER.app.primedata  # type: ignore[attr-defined]

CONFIG = {
    "api_url": _SERVER.url,
    "api_key": _SERVER.app.config.credentials.primedata_api_key,
    "profile_ids": [_WS.profile_id(i) for i in range(_WS.profiles)],
    "page_size": 5,
    "max_concurrency": 3,
}

TestTapPrimeData = get_tap_test_class(
    TapPrimeData,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=40),
)
