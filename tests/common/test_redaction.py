"""The shared redactor: every encoded form, every log record whatever its handler."""

from __future__ import annotations

import base64
import io
import logging
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdp_common.redact import (
    MASK,
    Redactor,
    install_record_factory,
    secret_form,
    secret_paths,
    secret_values,
)

SECRET = "s3cr3t/with+plus=&at@"


def test_every_form_of_a_secret_is_masked():
    redact = Redactor([SECRET])
    b64 = base64.b64encode(SECRET.encode()).decode()
    for form in (SECRET, quote(SECRET, safe=""), quote_plus(SECRET), b64, b64.rstrip("=")):
        assert redact(f"<{form}>") == f"<{MASK}>"


@pytest.fixture
def own_handler():
    """A logger with its own handler that does not propagate to the root (as urllib3 may)."""
    stream = io.StringIO()
    logger = logging.getLogger("test.redaction.wire")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    previous = logging.getLogRecordFactory()
    yield logger, stream
    logging.setLogRecordFactory(previous)
    logger.removeHandler(handler)


def test_record_factory_masks_records_of_any_handler(own_handler):
    logger, stream = own_handler
    redactor = Redactor([SECRET])
    install_record_factory(redactor)
    install_record_factory(redactor)  # idempotent
    logger.debug('"POST /import?secret=%s HTTP/1.1" 200', quote(SECRET, safe=""))
    try:
        raise ValueError(f"boom {SECRET}")
    except ValueError:
        logger.exception("failed")
    text = stream.getvalue()
    assert f"secret={MASK}" in text and "failed" in text and "ValueError" in text
    assert SECRET not in text and quote(SECRET, safe="") not in text


def test_secret_values_of_any_type_are_found_by_the_schema():
    schema = {
        "properties": {
            "api_key": {"type": "string", "secret": True},
            "vendor": {"type": "object", "properties": {"token": {"writeOnly": True}}},
            "name": {"type": "string"},
        }
    }
    assert secret_paths(schema) == [("api_key",), ("vendor", "token")]
    config = {"api_key": {"v": "wrong-type-key"}, "vendor": {"token": "tok-123"}, "name": "n"}
    values = secret_values(schema, config)
    assert "wrong-type-key" in values and "tok-123" in values and "n" not in values


def test_a_secret_setting_declares_what_of_it_is_not_secret():
    """The schema says it: `none` is a word of this setting, of its URL only the password is
    secret. Undeclared, the same values are secrets whole."""
    declared = {"type": "string", "secret": True, **secret_form(words=["None"], url_password=True)}
    schema = {"properties": {"uri": declared, "plain": {"type": "string", "secret": True}}}
    url = "postgresql://user:p%40ss-word@db.example:5432/cdp"
    assert secret_values(schema, {"uri": url}) == ["p%40ss-word", "p@ss-word"]
    assert secret_values(schema, {"uri": " NONE "}) == []
    assert secret_values(schema, {"uri": "sqlite:///ledger.db"}) == []
    assert secret_values(schema, {"plain": "none"}) == ["none"]
    assert secret_values(schema, {"plain": url}) == [url]


def test_the_ledger_uri_declares_its_off_word_and_url_shape():
    from target_cdp.settings import GENERIC

    schema = GENERIC.to_dict()
    assert secret_values(schema, {"ledger_uri": "none"}) == []
    assert set(secret_values(schema, {"ledger_uri": "postgresql://u:pw-1234@h/db"})) == {"pw-1234"}


_TEXT = st.text(st.characters(blacklist_characters="[]", blacklist_categories=("Cs",)))


@settings(max_examples=200, deadline=None)
@given(secret=_TEXT.filter(lambda s: len(s) >= 4), before=_TEXT, after=_TEXT)
def test_no_form_of_a_secret_survives_redaction(secret: str, before: str, after: str):
    redact = Redactor([secret])
    b64 = base64.b64encode(secret.encode()).decode()
    for form in (secret, quote(secret, safe=""), quote_plus(secret), b64):
        masked = redact(before + form + after)
        for leaked in (secret, quote(secret, safe=""), quote_plus(secret), b64):
            assert leaked not in masked


def test_overlapping_secrets_leave_no_fragment():
    from cdp_common.redact import MASK, Redactor

    redactor = Redactor()
    redactor.add(["0000-abcd-1234", "abcd-1234-wxyz"])
    text = redactor("joined 0000-abcd-1234-wxyz, alone 0000-abcd-1234 and abcd-1234-wxyz.")
    assert text == f"joined {MASK}, alone {MASK} and {MASK}."
