"""No secret in stdout, logs, dead letters, dry-run files or errors."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

from core_fake import TOKEN, config, install_fake, record, run, schema, state

from target_cdp.redact import MASK, Redactor


def test_redactor_masks_plain_encoded_and_derived_values():
    token = base64.b64encode(b"key:p@ss word/1").decode()  # a basic-auth header's token
    redact = Redactor(["p@ss word/1", token, "abc"])
    assert redact("x p@ss word/1 y") == f"x {MASK} y"
    assert redact("?s=p%40ss%20word%2F1&t=p%40ss+word%2F1") == f"?s={MASK}&t={MASK}"
    assert MASK in redact("Authorization: Basic a2V5OnBAc3Mgd29yZC8x")
    assert redact("abc") == "abc"  # too short to be worth masking


def test_connection_errors_do_not_leak_the_query_secret(sandbox, tmp_path, caplog):
    install_fake(sandbox)
    cfg = config(sandbox, tmp_path, max_tries=2, max_retry_wait=0.01, max_concurrency=1)
    cfg["fake"]["url"] = "http://127.0.0.1:9"  # nothing listens there
    result = run(cfg, [schema(), record({"id": 1}), state("s")], tmp_path, caplog)
    assert result.exit_code == 1
    [dead] = result.dead
    assert dead["error"]["code"] == "connection_error"
    everything = result.stdout + result.logs + (tmp_path / "dead.jsonl").read_text()
    everything += (tmp_path / "summary.json").read_text()
    assert TOKEN not in everything


def test_vendor_exceptions_are_redacted(sandbox, tmp_path, caplog):
    install_fake(sandbox)
    from core_fake import FakeDest, FakeTarget

    class Leaky(FakeDest):
        def build(self, route, items):
            raise RuntimeError(f"boom with {self.settings['token']}")

    class LeakyTarget(FakeTarget):
        destinations = {"fake": Leaky}

    cfg = config(sandbox, tmp_path)
    result = run(cfg, [schema(), record({"id": 1})], tmp_path, caplog, LeakyTarget)
    assert result.exit_code == 1
    assert TOKEN not in result.logs and TOKEN not in json.dumps(result.dead)
    assert result.dead[0]["error"]["code"] == "internal_error"


def test_cli_config_errors_do_not_echo_secrets(tmp_path):
    secret = "12345678901"
    cfg = {"dmartech": {"api_url": "http://127.0.0.1:9/x", "secret": int(secret)}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    proc = subprocess.run(
        [sys.executable, "-m", "target_cdp", "--config", str(path)],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert secret not in proc.stdout + proc.stderr
