"""Stopping answers say what they mean: refused credentials name the credential settings, a
missing endpoint (404/405, a redirect) names the URL setting; throttling has one code."""

from __future__ import annotations

from core_fake import record, run, schema, state

from target_cdp.answers import THROTTLED, Answer, Outcome, ResultCodes, stop_message, transient
from target_cdp.target import TargetCDP

CODES = ResultCodes("acme", credentials_setting="acme.token", url_setting="acme.url")


def test_a_404_without_a_code_is_a_wrong_url_naming_the_url_setting():
    answer = CODES.classify(404, "<html>not found</html>", {})
    assert (answer.outcome, answer.setting) == (Outcome.WRONG_URL, "acme.url")
    line = stop_message("acme", answer)
    assert line.startswith("acme has no such endpoint (http_404")
    assert line.endswith("check the URL setting `acme.url`")
    assert "credentials" not in line


def test_a_401_without_a_code_is_refused_credentials_naming_the_credential_setting():
    answer = CODES.classify(401, None, {})
    assert (answer.outcome, answer.setting) == (Outcome.CREDENTIALS, "acme.token")
    line = stop_message("acme", answer)
    assert (
        line == "acme refused the credentials (http_401 HTTP 401): check the setting `acme.token`"
    )


def test_a_throttled_answer_has_the_throttled_code_and_honours_retry_after():
    answer = transient(429, {"Retry-After": "3"})
    assert answer == Answer(Outcome.RETRY, THROTTLED, "HTTP 429", 3.0)
    assert CODES.classify(429, {"code": 0}, {}).code == THROTTLED


def test_a_wrong_url_stops_the_run_naming_the_url_setting_not_the_credentials(
    sandbox, tmp_path, caplog
):
    cfg = {
        "dmartech": {
            "api_url": f"{sandbox.url}/nowhere",
            "secret": sandbox.credentials.dmartech_secret,
        },
        "mappings": [{"stream": "people", "destination": "dmartech", "type": "user"}],
        "dead_letter_path": str(tmp_path / "dead.jsonl"),
        "progress_seconds": 0,
    }
    messages = [schema(), record({"id": 1, "name": "a"}), state(1)]
    result = run(cfg, messages, tmp_path, caplog, target_class=TargetCDP)
    assert result.exit_code != 0 and result.states == []
    assert "dmartech has no such endpoint (http_404" in result.logs
    assert "check the URL setting `dmartech.api_url`" in result.logs
    assert "refused the credentials" not in result.logs
    assert sandbox.credentials.dmartech_secret not in result.logs
