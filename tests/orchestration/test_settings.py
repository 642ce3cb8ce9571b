from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestration.settings import Settings, connection_problems


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


def test_timeframes_default_to_the_ladder_from_the_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTMARKET_BASE_TIMEFRAME", "15m")

    settings = Settings(_env_file=None)

    assert settings.timeframes == ["15m", "1h", "4h", "1d"]
    assert settings.trading_timeframe == "15m"
    assert [tf.label for tf in settings.candle_timeframes] == ["15m", "1h", "4h", "1d"]


@pytest.mark.parametrize(
    ("env", "field", "message"),
    [
        ({"SMARTMARKET_SYMBOLS": ""}, "symbols", "no symbols"),
        ({"SMARTMARKET_SYMBOLS": "BTC/USDT,garbage"}, "symbols", "'garbage' not shaped"),
        ({"SMARTMARKET_SYMBOLS": "BTC/USDT,BTC/USDT"}, "symbols", "more than once"),
        ({"SMARTMARKET_SYMBOLS": "[oops"}, "symbols", "not a JSON list"),
        ({"SMARTMARKET_BASE_TIMEFRAME": "7m"}, "base_timeframe", "does not divide a day"),
        ({"SMARTMARKET_TIMEFRAMES": "5m,7m"}, "timeframes", "7m does not divide a day"),
        (
            {"SMARTMARKET_BASE_TIMEFRAME": "15m", "SMARTMARKET_TIMEFRAMES": "10m,1h"},
            "timeframes",
            "10m not a multiple",
        ),
        ({"SMARTMARKET_TRADING_TIMEFRAME": "2h"}, "trading_timeframe", "not one of"),
        (
            {"SMARTMARKET_SOURCE": "file", "SMARTMARKET_SYMBOLS": "BTC/USDT"},
            "file_path",
            "needs the path",
        ),
        (
            {
                "SMARTMARKET_SOURCE": "file",
                "SMARTMARKET_SYMBOLS": "BTC/USDT",
                "SMARTMARKET_FILE_PATH": "/no/such.csv",
            },
            "file_path",
            "not found",
        ),
        ({"SMARTMARKET_FILE_TIMEZONE": "Mars/Base"}, "file_timezone", "unknown time zone"),
        ({"SMARTMARKET_STORE": "postgres"}, "pg_dsn", "needs a DSN"),
        ({"SMARTMARKET_ENV": "prod"}, "pg_dsn", "SMARTMARKET_ENV=prod needs a DSN"),
        (
            {"SMARTMARKET_STORE": "postgres", "SMARTMARKET_PG_DSN": "nonsense"},
            "pg_dsn",
            "not a PostgreSQL DSN",
        ),
        ({"SMARTMARKET_ONLINE_STORE": "redis"}, "redis_url", "needs a URL"),
        ({"SMARTMARKET_ONLINE_STORE": "postgres"}, "feast_pg_dsn", "needs a DSN"),
    ],
)
def test_bad_settings_are_reported_at_their_field(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], field: str, message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)

    errors = caught.value.errors()
    assert [e["loc"] for e in errors] == [(field,)]
    assert message in errors[0]["msg"]
    assert not errors[0]["msg"].startswith("Value error")


def test_a_file_source_holds_one_symbol(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("ts,open,high,low,close,volume\n")

    with pytest.raises(ValidationError, match="a file holds one symbol"):
        Settings(_env_file=None, source="file", file_path=path)
    assert Settings(_env_file=None, source="file", file_path=path, symbols=["BTC/USDT"])


def test_connection_problems_name_the_setting_and_the_server() -> None:
    settings = Settings(
        _env_file=None, store="postgres", pg_dsn="postgresql://postgres:hunter2@127.0.0.1:9/db"
    )

    problems = connection_problems(settings, timeout_s=1)

    assert len(problems) == 1
    assert problems[0].startswith(
        "SMARTMARKET_PG_DSN: cannot connect to PostgreSQL at 127.0.0.1:9/db"
    )
    assert "hunter2" not in problems[0]
    assert connection_problems(Settings(_env_file=None)) == []


def test_a_reachable_postgres_has_no_problem(pg_dsn: str) -> None:
    settings = Settings(_env_file=None, store="postgres", pg_dsn=pg_dsn)

    assert connection_problems(settings) == []
