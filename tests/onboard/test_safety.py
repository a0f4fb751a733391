"""Safety layer: clamp, rate limit, NaN, watchdog hold-then-stop, e-stop latch, discrete."""

from __future__ import annotations

import numpy as np

from onboard.safety import SafetyConfig, SafetyLayer
from shared.spec import Space

SPEC = {"action": Space(np.float32, (3,), -1.0, 1.0)}
SAFE = {"action": np.zeros(3, np.float32)}


def act(*values: float) -> dict[str, np.ndarray]:
    return {"action": np.array(values, np.float32)}


def test_clamp_and_rate_limit() -> None:
    layer = SafetyLayer(SPEC, SAFE, SafetyConfig(max_delta=0.3, watchdog_s=0.1))
    sent = layer.filter(act(5.0, -5.0, 0.1), now=0.0)["action"]
    np.testing.assert_allclose(sent, [0.3, -0.3, 0.1], atol=1e-6)
    sent = layer.filter(act(5.0, -5.0, 0.1), now=0.02)["action"]
    np.testing.assert_allclose(sent, [0.6, -0.6, 0.1], atol=1e-6)
    for step in range(3, 10):
        sent = layer.filter(act(5.0, -5.0, 0.1), now=0.02 * step)["action"]
    np.testing.assert_allclose(sent, [1.0, -1.0, 0.1], atol=1e-6)
    assert layer.counters.clamped == 9 and layer.counters.rate_limited >= 3


def test_nan_becomes_safe_value() -> None:
    layer = SafetyLayer(SPEC, SAFE, SafetyConfig(max_delta=2.0))
    sent = layer.filter(act(np.nan, 0.5, np.inf), now=0.0)["action"]
    np.testing.assert_allclose(sent, [0.0, 0.5, 0.0])  # inf is garbage too
    assert layer.counters.nan_replaced == 2


def test_watchdog_holds_then_sends_safe_action() -> None:
    layer = SafetyLayer(SPEC, SAFE, SafetyConfig(max_delta=2.0, watchdog_s=0.1))
    assert not layer.filter(None, now=0.0)["action"].any()  # nothing yet: safe, no trip
    layer.filter(act(0.5, 0.5, 0.5), now=1.0)
    held = layer.filter(None, now=1.05)["action"]
    np.testing.assert_allclose(held, [0.5, 0.5, 0.5])
    stopped = layer.filter(None, now=1.2)["action"]
    np.testing.assert_allclose(stopped, [0.0, 0.0, 0.0])
    layer.filter(None, now=1.3)
    assert layer.counters.watchdog_trips == 1
    np.testing.assert_allclose(layer.filter(act(0.2, 0, 0), now=1.4)["action"], [0.2, 0, 0])


def test_estop_latches_until_cleared() -> None:
    layer = SafetyLayer(SPEC, SAFE, SafetyConfig(max_delta=2.0))
    layer.filter(act(0.5, 0.5, 0.5), now=0.0)
    layer.estop("firmware fault: motor overtemperature")
    for step in range(5):
        sent = layer.filter(act(0.9, 0.9, 0.9), now=0.02 * (step + 1))["action"]
        assert not sent.any()
    assert layer.counters.estops == 1 and layer.counters.estop_ticks == 5
    layer.clear_estop()
    np.testing.assert_allclose(layer.filter(act(0.9, 0, 0), now=0.2)["action"], [0.9, 0, 0])


def test_discrete_out_of_range_is_safe_action() -> None:
    spec = {"action": Space(np.int32, (), 0, 5)}
    layer = SafetyLayer(spec, {"action": np.int32(0)})
    assert layer.filter({"action": np.int32(4)}, now=0.0)["action"] == 4
    assert layer.filter({"action": np.int32(9)}, now=0.01)["action"] == 0
    assert layer.counters.clamped == 1
