"""Redaction where it is easy to get wrong: secrets that contain one another, and a traceback
carrying a secret in a process with the plugin's own single log handler (pytest's handlers
would redact it a second time and hide a gap)."""

from __future__ import annotations

import base64
import io
import json
import logging
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

from core_fake import TOKEN

from target_cdp.redact import MASK, RedactingFilter, Redactor

HERE = Path(__file__).parent
TAIL = "and more+tail/9f8e"
PHRASE = f"{TOKEN}/{TAIL}"  # a secret that contains another secret (the token) whole


def forms(secret: str) -> list[str]:
    """Every form of a secret an output could show: raw, URL-encoded, base64."""
    return [
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(secret.encode()).decode(),
    ]


def test_a_secret_inside_another_is_masked_with_it_whole_in_any_order():
    text = f"a={PHRASE} b={quote(PHRASE, safe='')} c={quote_plus(PHRASE)} d={TOKEN}"
    expected = f"a={MASK} b={MASK} c={MASK} d={MASK}"
    assert Redactor([TOKEN, PHRASE])(text) == expected
    assert Redactor([PHRASE, TOKEN])(text) == expected
    learned_late = Redactor([TOKEN])  # secrets learned one at a time still mask longest first
    learned_late.add([PHRASE])
    assert learned_late(text) == expected


def test_a_secret_that_starts_or_ends_another_leaves_nothing_behind():
    redact = Redactor(["abcd-1234", "abcd-1234-wxyz", "0000-abcd-1234"])
    for text in ("abcd-1234-wxyz", "0000-abcd-1234", "x abcd-1234-wxyz y 0000-abcd-1234 z"):
        masked = redact(text)
        assert "wxyz" not in masked and "0000" not in masked, masked
        assert "abcd" not in masked and "1234" not in masked, masked


def test_a_four_character_secret_is_masked_and_a_shorter_one_is_not():
    redact = Redactor(["abcd", "xyz"])
    assert redact("abcd xyz") == f"{MASK} xyz"


def test_short_or_missing_values_do_not_stop_the_secrets_after_them():
    redact = Redactor([None, "", "ab", "s3cret-after-them"])
    assert redact("key=s3cret-after-them") == f"key={MASK}"


def log_through_filter(redactor: Redactor, *calls: tuple[str, ...]) -> list[str]:
    """Log `calls` through a handler with a redacting filter; the lines it wrote."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter(redactor))
    logger = logging.Logger("alone")  # outside the logger tree: no handler but this one
    logger.addHandler(handler)
    for call in calls:
        logger.error(*call)
    return out.getvalue().splitlines()


def test_with_no_secret_known_every_log_line_still_appears():
    assert log_through_filter(Redactor(), ("one %s", "line")) == ["one line"]


def test_a_log_call_with_a_broken_format_string_is_reported_and_does_not_raise(capsys):
    calls = [("%d records", "many"), ("then with s3cret-value",)]  # %d of a string: broken
    assert log_through_filter(Redactor(["s3cret-value"]), *calls) == [f"then with {MASK}"]
    assert "--- Logging error ---" in capsys.readouterr().err  # not silently dropped


def test_a_traceback_with_nested_secrets_is_masked_with_the_plugins_own_handler(tmp_path):
    cfg = {
        "fake": {"url": "http://127.0.0.1:9", "token": TOKEN, "passphrase": PHRASE},
        "mappings": [{"stream": "people", "destination": "fake", "type": "item"}],
        "dead_letter_path": str(tmp_path / "dead.jsonl"),
        "summary_path": str(tmp_path / "summary.json"),
        "progress_seconds": 0,
    }
    config = tmp_path / "config.json"
    config.write_text(json.dumps(cfg))
    lines = [
        {"type": "SCHEMA", "stream": "people", "schema": {"properties": {"id": {}}}},
        {"type": "RECORD", "stream": "people", "record": {"id": 1}},
        {"type": "STATE", "value": {"people": 1}},
    ]
    proc = subprocess.run(
        [sys.executable, str(HERE / "leaky_target.py"), "--config", str(config)],
        input="".join(json.dumps(line) + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 1  # the record was dead-lettered as an internal error
    assert "Traceback (most recent call last)" in proc.stderr  # the traceback was logged
    assert f"RuntimeError: cannot sign with {MASK} ({MASK})" in proc.stderr
    outputs = {
        "stdout": proc.stdout,
        "stderr": proc.stderr,
        "dead letters": (tmp_path / "dead.jsonl").read_text(),
        "summary": (tmp_path / "summary.json").read_text(),
    }
    assert json.loads(outputs["dead letters"])["error"]["code"] == "internal_error"
    for name, text in outputs.items():
        for secret in (TOKEN, PHRASE):
            for form in forms(secret):
                assert form not in text, f"a secret appears in {name}"
        assert "9f8e" not in text, f"the tail of a nested secret appears in {name}"
