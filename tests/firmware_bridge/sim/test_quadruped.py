"""A1-like quadruped: published parameters, staged reward, and scripted getting up."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from firmware_bridge.sim.robots import a1_model
from firmware_bridge.sim.robots.base import up_alignment
from firmware_bridge.sim.robots.quadruped import (
    A1Walk,
    WalkConfig,
    action_to_targets,
    staged_reward,
    targets_to_action,
)
from firmware_bridge.sim.tasks import TaskEnv


def test_published_masses_and_dimensions() -> None:
    model = a1_model.build_a1_model()
    trunk = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "trunk")
    assert model.body_subtreemass[trunk] == pytest.approx(12.453, abs=1e-6)
    assert model.body_mass[trunk] == pytest.approx(4.713)
    geom = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "trunk")
    np.testing.assert_allclose(2 * model.geom_size[geom], [0.267, 0.194, 0.114])
    calf = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "FL_calf")
    foot = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "FL_foot")
    assert model.body_pos[calf][2] == pytest.approx(-0.2)  # thigh length
    assert model.body_pos[foot][2] == pytest.approx(-0.2)  # calf length
    hip = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "FL_hip")
    np.testing.assert_allclose(model.body_pos[hip], [0.183, 0.047, 0.0])


def test_published_joint_limits_and_torques() -> None:
    model = a1_model.build_a1_model()
    degrees = {"hip": (-46.0, 46.0), "thigh": (-60.0, 240.0), "calf": (-154.5, -52.5)}
    for name in a1_model.JOINT_NAMES:
        joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
        low, high = np.degrees(model.jnt_range[joint])
        want = degrees[name.split("_")[1]]
        assert (low, high) == pytest.approx(want, abs=0.01), name
    np.testing.assert_allclose(model.actuator_ctrlrange, [[-33.5, 33.5]] * 12)


def test_actions_span_daydreamers_used_joint_ranges() -> None:
    low, high = a1_model.JOINT_LOW, a1_model.JOINT_HIGH
    np.testing.assert_allclose(action_to_targets(-np.ones(12), full_range=True), low)
    np.testing.assert_allclose(action_to_targets(np.ones(12), full_range=True), high)
    used_high = action_to_targets(np.ones(12))
    np.testing.assert_allclose(used_high[:3], low[:3] + [0.99, 0.90, 0.60] * (high - low)[:3])
    np.testing.assert_allclose(action_to_targets(-np.ones(12))[:3],
                               low[:3] + 0.01 * (high - low)[:3])
    stand = a1_model.STANDING_POSE
    np.testing.assert_allclose(action_to_targets(targets_to_action(stand)), stand, atol=1e-12)
    # DayDreamer's normalised standing pose (0, -0.2, 1.0) is the thigh at about 0.9 rad
    assert targets_to_action(stand)[1] == pytest.approx(-0.2, abs=0.02)


def _reward(up: float, joints: np.ndarray, forward: float) -> tuple[float, int]:
    heading = np.array([1.0, 0.0, 0.0])
    return staged_reward(up, joints, np.array([forward, 0.0, 0.0]), heading)


def test_staged_reward_opens_gates_in_order() -> None:
    stand = a1_model.STANDING_POSE
    assert _reward(-1.0, stand, 1.0) == (pytest.approx(5.0), 0)  # on its back: only the constant
    reward, stage = _reward(1.0, a1_model.FOLDED_POSE, 0.0)  # upright but folded
    assert stage == 3 and reward < 9.0
    still, stage = _reward(1.0, stand, 0.0)
    assert stage == 4 and still == pytest.approx(8.826, abs=0.005)
    walking, _ = _reward(1.0, stand, 0.3)
    assert walking == pytest.approx(still + 5.0)  # full velocity term at 0.3 m/s straight ahead
    backwards, _ = _reward(1.0, stand, -0.3)
    assert backwards == pytest.approx(still)
    sideways = staged_reward(1.0, stand, np.array([0.3, 0.3, 0.0]), np.array([1.0, 0, 0]))[0]
    assert still < sideways < walking  # only the forward fraction of the motion counts


def _getting_up(env: TaskEnv, steps: int) -> list[dict]:
    """Scripted controller: push with the right legs while on the back, fold, then stand."""
    task = env.task
    push = np.array([-0.5, 3.0, -0.92])
    fold = a1_model.FOLDED_POSE[:3]
    history = [env.reset()]
    for step in range(steps):
        up = up_alignment(task.trunk_quat())
        if up < 0.3:
            targets = np.concatenate([push, fold, push, fold])
        elif up < 0.9 and step < steps // 2:
            targets = a1_model.FOLDED_POSE
        else:
            targets = a1_model.STANDING_POSE
        history.append(env.step({"action": targets_to_action(targets).astype(np.float32)}))
    return history


def test_stands_up_from_belly_into_the_pose_stage() -> None:
    env = TaskEnv(A1Walk(WalkConfig(back_probability=0.0)), seed=0)
    history = _getting_up(env, 40)
    assert up_alignment(env.task.trunk_quat()) > 0.99
    assert history[-1]["log/stage"] == 4 and history[-1]["reward"] > 8.7
    assert env.task.robot.data.qpos[2] == pytest.approx(0.258, abs=0.02)  # standing height


@pytest.mark.parametrize("seed", [0, 1])
def test_rights_itself_from_its_back(seed: int) -> None:
    env = TaskEnv(A1Walk(WalkConfig(back_probability=1.0)), seed=seed)
    history = _getting_up(env, 80)
    assert history[0]["log/stage"] == 0  # starts upside down
    assert up_alignment(env.task.trunk_quat()) > 0.99, "did not roll over"
    assert history[-1]["log/stage"] == 4, [h["log/stage"] for h in history]


def test_episode_cut_keeps_the_physical_state() -> None:
    env = TaskEnv(A1Walk(WalkConfig(episode_length=5, back_probability=0.0)), seed=0)
    obs = env.reset()
    stand = targets_to_action(a1_model.STANDING_POSE).astype(np.float32)
    for _ in range(5):
        obs = env.step({"action": stand})
    assert obs["is_last"] and not obs["is_terminal"]
    before = env.task.robot.data.qpos.copy()
    first = env.reset()
    assert first["is_first"]
    np.testing.assert_array_equal(env.task.robot.data.qpos, before)


def test_sensors_report_an_imu() -> None:
    task = A1Walk(WalkConfig(back_probability=0.0))
    task.begin_episode(np.random.default_rng(0))
    sensors = task.robot.sensors()
    assert sensors["joint_pos"].shape == (12,)
    assert sensors["imu_quat"].shape == (4,) and sensors["imu_gyro"].shape == (3,)
    assert np.linalg.norm(sensors["imu_accel"]) == pytest.approx(9.81, abs=0.5)  # at rest
    assert np.abs(sensors["imu_roll_pitch"]).max() < 0.2
