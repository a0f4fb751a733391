"""The control loop end to end in-process: swap at episode start, recording, faults."""

from __future__ import annotations

import numpy as np

from onboard.policy import load_policy
from onboard.robot import EnvRobot
from onboard.runtime import Runtime, RuntimeConfig
from onboard.safety import SafetyConfig
from tests.onboard.fakes import CountingEnv, FakeClock
from tests.onboard.onnx_fakes import SPEC, counting_policy


def make(swap: str = "episode", length: int = 5):
    env = CountingEnv(length)
    steps: list[dict] = []
    config = RuntimeConfig(hz=50.0, mode="mode", swap=swap,
                           safety=SafetyConfig(max_delta=2.0, watchdog_s=0.1))
    runtime = Runtime(EnvRobot(env), config, sink=steps.append, clock=FakeClock())
    return runtime, env, steps


def test_random_until_policy_then_swap_at_episode_start() -> None:
    runtime, env, steps = make()
    runtime.run(max_ticks=3)  # random actions, mid-episode
    runtime.offer_policy(load_policy(counting_policy(version=7), SPEC))
    runtime.run(max_ticks=6)  # ticks 3..5 finish the episode (6 obs incl. last), then swap
    versions = [int(s["policy_version"]) for s in steps]
    assert versions[:6] == [0] * 6 and versions[6:] == [7] * 3
    assert steps[6]["is_first"] and runtime.stats.policy_swaps == 1
    # the policy counts its own steps from the swap: action = tanh(0.01 * (count + joints sum))
    acts = np.array([s["action"][0] for s in steps[6:]])
    np.testing.assert_allclose(np.arctanh(acts) / 0.01, [1, 2 + 3, 3 + 6], atol=1e-3)
    # what was recorded is what was applied
    np.testing.assert_allclose(env.actions[-1], steps[-1]["action"])
    assert runtime.stats.episodes == 1 and len(runtime.stats.returns) == 1


def test_immediate_swap() -> None:
    runtime, _, steps = make(swap="immediate", length=100)
    runtime.run(max_ticks=2)
    runtime.offer_policy(load_policy(counting_policy(version=2), SPEC))
    runtime.run(max_ticks=1)
    assert int(steps[-1]["policy_version"]) == 2


def test_inference_error_is_counted_and_robot_held_then_stopped() -> None:
    runtime, _, steps = make(length=1000)
    runtime.offer_policy(load_policy(counting_policy(), SPEC))
    runtime.run(max_ticks=3)

    def broken(obs):
        raise RuntimeError("onnxruntime exploded")

    runtime.runner.act = broken  # type: ignore[method-assign]
    runtime.run(max_ticks=10)
    assert runtime.stats.inference_errors == 10
    assert runtime.safety.counters.watchdog_trips == 1
    assert not steps[-1]["action"].any()  # safe action after the watchdog time


def test_fault_latches_estop() -> None:
    runtime, _, steps = make(length=1000)
    runtime.offer_policy(load_policy(counting_policy(), SPEC))
    runtime.run(max_ticks=2)
    runtime.robot.fault = lambda: "firmware silent for 0.1 s"  # type: ignore[method-assign]
    runtime.run(max_ticks=3)
    runtime.robot.fault = lambda: None  # type: ignore[method-assign]
    runtime.run(max_ticks=3)
    assert runtime.safety.latched == "firmware silent for 0.1 s"
    assert all(not s["action"].any() for s in steps[2:])
    summary = runtime.summary()
    assert summary["safety"]["estops"] == 1 and summary["steps"] == 8


def test_a_policy_of_the_wrong_variant_never_stops_the_loop() -> None:
    runtime, _, steps = make(length=4)  # mode "mode"
    runtime.offer_policy(load_policy(counting_policy(variant="sample"), SPEC))
    runtime.run(max_ticks=12)
    assert runtime.stats.swap_errors == 1 and runtime.stats.policy_swaps == 0
    assert len(steps) == 12 and runtime.runner.version == -1
