"""The optional OIDC login: off by default, and fails closed when it cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[2] / "dashboards" / "pages" / "4_Trading.py")


def test_without_login_the_page_shows_its_content(empty_home: Path) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60).run()

    assert not at.exception
    assert any("no trading yet" in i.value for i in at.info)


@pytest.mark.parametrize(
    ("secrets", "why"),
    [
        ({}, "Authlib"),
        ({"auth": {"redirect_uri": "https://x/oauth2callback"}}, "Authlib"),
    ],
)
def test_login_on_shows_nothing_until_it_can_work(
    empty_home: Path, monkeypatch: pytest.MonkeyPatch, secrets: dict, why: str
) -> None:
    monkeypatch.setenv("SMARTMARKET_DASHBOARD_LOGIN", "true")
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in secrets.items():
        at.secrets[key] = value

    at.run()

    assert not at.exception
    assert "SMARTMARKET_DASHBOARD_LOGIN is on but the login cannot work" in at.error[0].value
    assert why in at.error[0].value
    assert not any("no trading yet" in i.value for i in at.info)  # the page stopped
    assert not at.button  # no kill switch, no controls


def test_login_problem_names_the_missing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from dashboards import ui

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())  # Authlib "present"
    monkeypatch.setattr(ui.st, "secrets", {"auth": {"redirect_uri": "https://x/cb"}})

    assert ui.login_problem() == "[auth] in secrets.toml lacks cookie_secret"
    monkeypatch.setattr(ui.st, "secrets", {})
    assert "no [auth] section" in str(ui.login_problem())
