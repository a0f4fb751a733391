"""Train-ratio limiter: prefill, ratio with tolerance, unlimited mode."""

from __future__ import annotations

import pytest

from offboard.replay import LimiterConfig, ReplayError, TrainRatioLimiter


def _run(limiter: TrainRatioLimiter, inserts: int, updates_per_step_max: int = 100) -> int:
    """Insert one step at a time; update while allowed. Returns replayed steps."""
    replayed = 0
    for inserted in range(1, inserts + 1):
        for _ in range(updates_per_step_max):
            if not limiter.want_update(inserted, replayed):
                break
            replayed += limiter.batch_steps
    return replayed


def test_no_update_before_the_prefill():
    limiter = TrainRatioLimiter(LimiterConfig(train_ratio=64, min_inserted=100), batch_steps=32)
    assert not any(limiter.want_update(inserted, 0) for inserted in range(100))
    assert limiter.refused_prefill == 100
    assert limiter.updates_allowed(99, 0) == 0


def test_ratio_is_kept_within_one_batch_plus_tolerance():
    config = LimiterConfig(train_ratio=64, min_inserted=100, tolerance=0)
    limiter = TrainRatioLimiter(config, batch_steps=1024)
    replayed = _run(limiter, 10_100)
    assert 64 * 10_000 - 1024 < replayed <= 64 * 10_000
    assert limiter.ratio(10_100, replayed) == pytest.approx(64, rel=0.002)
    assert limiter.refused_ratio > 0


def test_tolerance_lets_the_learner_run_ahead():
    config = LimiterConfig(train_ratio=1, min_inserted=10, tolerance=3000)
    limiter = TrainRatioLimiter(config, batch_steps=1000)
    assert limiter.updates_allowed(10, 0) == 3
    assert limiter.want_update(10, 2000)
    assert not limiter.want_update(10, 3000)
    assert limiter.want_update(1010, 3000)


def test_count_prefill_allows_a_burst_after_the_prefill():
    config = LimiterConfig(train_ratio=10, min_inserted=100, count_prefill=True)
    limiter = TrainRatioLimiter(config, batch_steps=100)
    assert limiter.updates_allowed(100, 0) == 10
    assert limiter.updates_allowed(100, 0) > TrainRatioLimiter(
        LimiterConfig(train_ratio=10, min_inserted=100), 100).updates_allowed(100, 0)


def test_unlimited_trains_whenever_the_prefill_is_in():
    limiter = TrainRatioLimiter(LimiterConfig(unlimited=True, min_inserted=50), batch_steps=1024)
    assert not limiter.want_update(49, 0)
    assert limiter.want_update(50, 10**12)
    assert limiter.budget(50) == float("inf")


@pytest.mark.parametrize("settings", [{"train_ratio": 0}, {"min_inserted": -1},
                                      {"tolerance": -5}])
def test_bad_settings_are_refused(settings):
    with pytest.raises(ReplayError):
        LimiterConfig(**settings)
    with pytest.raises(ReplayError):
        TrainRatioLimiter(LimiterConfig(), batch_steps=0)
