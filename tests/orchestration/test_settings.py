from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestration.settings import Settings


def test_defaults_are_the_embedded_offline_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMARTMARKET_HOME")

    settings = Settings(_env_file=None)

    assert settings.env == "local"
    assert settings.source == "synthetic"
    assert settings.store == "parquet"
    assert settings.symbols == ["BTC/USDT", "ETH/USDT"]
    assert settings.timeframes == ["5m", "15m", "1h", "4h", "1d"]
    assert settings.home_dir == Path(".smartmarket").resolve()


def test_lists_come_from_comma_separated_or_json_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTMARKET_SYMBOLS", "BTC/USDT, SOL/USDT")
    monkeypatch.setenv("SMARTMARKET_TIMEFRAMES", '["15m", "1h"]')

    settings = Settings(_env_file=None)

    assert settings.symbols == ["BTC/USDT", "SOL/USDT"]
    assert settings.timeframes == ["15m", "1h"]


def test_unknown_timeframe_is_rejected_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTMARKET_TIMEFRAMES", "5m,7x")

    with pytest.raises(ValidationError, match="7x"):
        Settings(_env_file=None)


def test_secrets_are_masked_when_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTMARKET_EXCHANGE_SECRET", "very-secret-value")

    settings = Settings(_env_file=None)

    assert "very-secret-value" not in repr(settings)
    assert settings.exchange_secret is not None
    assert settings.exchange_secret.get_secret_value() == "very-secret-value"
