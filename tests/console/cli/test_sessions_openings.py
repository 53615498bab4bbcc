"""`fwx sessions list` and `fwx openings list` against a real service."""

from __future__ import annotations

from tests.console.cli.live_service import CLIENT, USER, LiveService, tcp_bind


def test_sessions_list_shows_the_logged_in_client(service: LiveService) -> None:
    with tcp_bind(service) as (bind_id, _):
        bind = service.bind(bind_id)
        assert bind is not None
        sessions = {s["id"]: s for s in service.json("sessions", "list")}
        session = sessions[bind["session_id"]]
        assert (session["client"], session["user"]) == (CLIENT, USER)
        assert session["binds"] >= 1
        assert session["pending"] >= 1
        assert "AUTHENTICATED" in session["flags"]
        table = service.cli("sessions", "list")
        assert table.exit_code == 0
        assert CLIENT in table.stdout
        assert USER in table.stdout


def test_openings_list_follows_the_allowed_binds(service: LiveService) -> None:
    """Only allowed binds have openings; the opening admits the bind's IP filter."""
    with tcp_bind(service) as (bind_id, (host, port)):
        assert bind_id not in [o["bind_id"] for o in service.json("openings", "list")]
        allow = ("binds", "allow", str(bind_id), "--protocol", "FTP", "--include", "127.0.0.73")
        assert service.cli(*allow).exit_code == 0
        [opening] = [o for o in service.json("openings", "list") if o["bind_id"] == bind_id]
        assert (opening["transport"], opening["host"], opening["port"]) == ("tcp", host, port)
        assert opening["remote"] == ["127.0.0.73"]
        table = service.cli("openings", "list")
        assert table.exit_code == 0
        assert f"{host}:{port}" in table.stdout
