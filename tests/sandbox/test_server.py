"""The sandbox's HTTP core."""

from __future__ import annotations

from cdp_sandbox.config import SandboxConfig
from cdp_sandbox.server import SandboxServer, build_app


def test_a_client_hanging_up_prints_no_traceback(capsys):
    server = SandboxServer(build_app(SandboxConfig()))
    try:
        for error in (BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset")):
            try:
                raise error
            except ConnectionError:
                server.handle_error(None, ("127.0.0.1", 1))
        try:
            raise ValueError("a real bug")
        except ValueError:
            server.handle_error(None, ("127.0.0.1", 1))
    finally:
        server.server_close()
    err = capsys.readouterr().err
    assert err.count("Traceback") == 1 and "a real bug" in err
