"""Host-side tasks compute what the in-process tasks compute, from readings sent over the link."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_bridge.errors import BridgeError
from firmware_bridge.framing import FrameEncoder
from firmware_bridge.host_tasks import HOST_TASKS, make_host_task, readings_from_state
from firmware_bridge.messages import TABLE
from firmware_bridge.parser import Frame, FrameParser
from firmware_bridge.records import StateSample
from firmware_bridge.sim.robot_model import PROFILES, TaskRobotModel
from firmware_bridge.sim.robots.base import SimRobotError
from firmware_bridge.sim.tasks import make_task
from tests.firmware_bridge.sim.test_arm import scripted_pick_place

STEPS = {"cartpole_swingup": 40, "a1_walk": 12, "sphere_goal": 4, "ur5_reach": 6,
         "ur5_pick_place": 30}


def choose_action(name: str, task, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random actions; the scripted policy for pick-and-place (random ones never grasp)."""
    if name == "ur5_pick_place":
        return {"action": np.int32(scripted_pick_place(task))}
    return {key: space.sample(rng) for key, space in task.spec.action.items()}


def record_commands(task) -> list[np.ndarray]:
    """Wrap the firmware-side entry of the task's targets; returns the list they land in."""
    sent: list[np.ndarray] = []
    owner, name = (task, "firmware_command") if hasattr(task, "firmware_command") else (
        task.robot, "apply")
    original = getattr(owner, name)

    def recording(targets: np.ndarray):
        sent.append(np.array(targets, dtype=np.float64))
        return original(targets)

    setattr(owner, name, recording)
    return sent


def over_the_wire(readings: dict[str, np.ndarray]) -> StateSample:
    """Encode readings as a real STATE frame and parse it back (float32 on the wire)."""
    values = {"timestamp_us": 0, "joint_pos": readings["joint_pos"],
              "joint_vel": readings["joint_vel"],
              "imu_quat": readings.get("imu_quat", (1.0, 0.0, 0.0, 0.0)),
              "imu_gyro": readings.get("imu_gyro", (0.0, 0.0, 0.0)),
              "imu_accel": readings.get("imu_accel", (0.0, 0.0, 0.0)),
              "task_sensors": readings["task_sensors"], "estop": 0, "fault_flags": 0,
              "last_command_seq": 0}
    wire = FrameEncoder(TABLE, lambda: 0.0).encode("STATE", values)
    frames = [event for event in FrameParser(TABLE).feed(wire) if isinstance(event, Frame)]
    assert len(frames) == 1
    return StateSample.from_values(frames[0].values, 0.0)


def assert_same_observation(host: dict, local: dict) -> None:
    assert set(host) == set(local) - {"image"}
    for key, value in host.items():
        assert value.dtype == local[key].dtype, key
        np.testing.assert_allclose(value, local[key], rtol=1e-5, atol=2e-5, err_msg=key)


@pytest.mark.parametrize("name", sorted(HOST_TASKS))
def test_host_task_equals_in_process_task(name: str) -> None:
    local = make_task(name)
    host = make_host_task(name)
    assert host.spec.hash == local.spec.hash
    assert host.episode_length == local.episode_length
    rng = np.random.default_rng(3)
    local.begin_episode(rng)
    sent = record_commands(local)
    rewards, lasts = [], []
    previous = readings_from_state(over_the_wire(local.readings()))
    for _ in range(STEPS[name]):
        action = choose_action(name, local, rng)
        targets = host.targets(action, previous)
        local.step(action)
        np.testing.assert_allclose(targets, sent[-1], atol=1e-6)
        readings = readings_from_state(over_the_wire(local.readings()))
        assert_same_observation(host.observe(readings), local.observe())
        reward = host.reward(readings, previous)
        assert reward == pytest.approx(local.reward(), rel=1e-5, abs=1e-5)
        assert host.is_terminal(readings) == local.is_terminal()
        assert host.is_last(readings) == local.is_last()
        lasts.append(host.is_last(readings))
        rewards.append(reward)
        previous = readings
    assert np.ptp(rewards) > 0, "the rewards never changed: the test would not see a mix-up"
    if name == "ur5_pick_place":
        assert rewards.count(1.0) >= 1 and rewards.count(10.0) >= 1, rewards
        assert lasts.index(True) == rewards.index(10.0) + 4  # the post-place countdown
    local.robot.close()


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_firmware_model_reports_what_the_host_task_needs(name: str) -> None:
    model = TaskRobotModel(make_task(name), name, seed=1)
    host = make_host_task(name)
    assert (model.joint_count, model.task_sensor_count, model.command_mode) == (
        host.joint_count, host.task_sensor_count, host.command_mode)
    assert model.state_rate_hz >= 2 * host.control_hz
    assert model.profile.resettable == host.resets_physics
    model.close()


def test_firmware_model_resets_only_where_the_task_allows() -> None:
    sphere = TaskRobotModel(make_task("sphere_goal"), "sphere_goal", seed=0)
    host = make_host_task("sphere_goal")
    sphere.reset(host.task_id, 5)
    first = sphere.read_state()["task_sensors"].copy()
    sphere.step_physics(np.array([1.0, 0.0]), 0.5)
    sphere.reset(host.task_id, 5)
    np.testing.assert_allclose(sphere.read_state()["task_sensors"], first)  # same seed, same goal
    with pytest.raises(SimRobotError, match="task id"):
        sphere.reset(host.task_id + 1, 5)
    a1 = TaskRobotModel(make_task("a1_walk"), "a1_walk")
    with pytest.raises(SimRobotError, match="no physical reset"):
        a1.reset(make_host_task("a1_walk").task_id, 0)


def test_passive_motors_without_a_command() -> None:
    model = TaskRobotModel(make_task("cartpole_swingup"), "cartpole_swingup")
    model.step_physics(np.array([1.0]), 0.1)
    assert model.read_state()["task_sensors"][2] == 1.0
    model.step_physics(None, 0.1)
    assert model.read_state()["task_sensors"][2] == 0.0  # no force in force: passive


@pytest.mark.parametrize("name", sorted(HOST_TASKS))
def test_hold_targets_keep_the_robot_still(name: str) -> None:
    local = make_task(name)
    local.begin_episode(np.random.default_rng(0))
    host = make_host_task(name)
    readings = local.readings()
    hold = host.hold_targets(readings)
    assert hold.shape == (host.joint_count,) and np.all(np.isfinite(hold))
    expected = {"a1_walk": readings["joint_pos"], "cartpole_swingup": np.zeros(1),
                "sphere_goal": np.zeros(2),
                "ur5_reach": np.r_[readings["task_sensors"][6:9], 0.0],
                "ur5_pick_place": np.r_[readings["task_sensors"][6:10]]}[name]
    np.testing.assert_allclose(hold, expected)
    local.robot.close()


def test_unknown_host_task_names_the_known_ones() -> None:
    with pytest.raises(BridgeError, match="cartpole_swingup"):
        make_host_task("walker")
    with pytest.raises(BridgeError, match="bad options"):
        make_host_task("a1_walk", speed=3)
