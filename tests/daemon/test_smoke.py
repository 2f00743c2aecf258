from __future__ import annotations


def test_daemon_answers_health(daemon):
    with daemon.client() as client:
        assert client.health()["status"] == "ok"
        assert "testproj" in [p["name"] for p in client.list_projects()]
