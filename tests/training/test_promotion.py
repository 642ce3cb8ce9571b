"""The promotion gate: only out-of-sample evidence promotes, and every decision says why."""

from __future__ import annotations

import pytest

from training.promotion import Decision, Evidence, PromotionConfig, decide

RULE = Evidence(sharpe=0.2, total_return=0.01, calmar=0.1, n_trades=120)
GOOD = Evidence(sharpe=0.9, total_return=0.08, calmar=0.9, n_trades=80, deflated_sharpe=0.8)


@pytest.mark.parametrize(
    ("challenger", "champion", "promote", "why"),
    [
        (GOOD, None, True, "no champion yet"),
        (GOOD, Evidence(0.5, 0.02, 0.4, 90, 0.7), True, "beats the champion"),
        (GOOD, Evidence(0.85, 0.09, 1.0, 90, 0.9), False, "does not beat the champion"),
        (Evidence(0.25, 0.02, 0.2, 80, 0.8), None, False, "does not beat rule-only"),
        (Evidence(0.9, 0.08, 0.9, 10, 0.8), None, False, "fewer than 30"),
        (Evidence(0.9, 0.08, 0.9, 80, 0.3), None, False, "deflated Sharpe"),
        (Evidence(float("nan"), 0.0, 0.0, 80, 0.8), None, False, "does not beat rule-only"),
    ],
)
def test_the_gate_promotes_only_a_clear_out_of_sample_winner(
    challenger: Evidence, champion: Evidence | None, promote: bool, why: str
) -> None:
    decision = decide(challenger, RULE, champion)

    assert decision == Decision(promote, decision.reason)
    assert why in decision.reason


def test_the_gate_compares_the_configured_metric() -> None:
    by_return = PromotionConfig(metric="total_return", margin=0.05)

    assert decide(GOOD, RULE, None, by_return).promote
    assert not decide(GOOD, Evidence(5.0, 0.5, 5.0, 100), None, by_return).promote


@pytest.mark.parametrize(
    ("field", "value"), [("metric", "alpha"), ("margin", -1.0), ("min_trades", -1)]
)
def test_a_bad_gate_setting_is_refused_by_name(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        PromotionConfig(**{field: value})  # type: ignore[arg-type]
