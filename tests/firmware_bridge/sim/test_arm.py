"""UR5e-like arm: DH kinematics, masses, reach by Cartesian control, and pick-and-place."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from firmware_bridge.sim.robots import arm
from firmware_bridge.sim.robots import pick_place as pp
from firmware_bridge.sim.robots.arm_tasks import ArmReach
from firmware_bridge.sim.tasks import TaskEnv


@pytest.fixture(scope="module")
def reach_env():
    environment = TaskEnv(ArmReach(), seed=0)
    yield environment
    environment.close()


@pytest.fixture
def pick_env():
    environment = TaskEnv(pp.PickPlace(), seed=0)
    yield environment
    environment.close()


def test_zero_pose_flange_matches_ur5e_dh(reach_env: TaskEnv) -> None:
    """At q = 0 the UR5e flange is at (a2 + a3, -(d4 + d6), d1 - d5) in the base frame."""
    ik = reach_env.task.arm.ik
    tcp = ik.tcp(np.zeros(6))
    flange = np.array([-0.425 - 0.3922, -(0.1333 + 0.0996), 0.1625 - 0.0997])
    tool = np.array([0.0, -arm.TCP_OFFSET, 0.0])  # the flange's z axis points along -y there
    base_rotation = np.diag([-1.0, -1.0, 1.0])  # the scene turns the base by 180 deg
    np.testing.assert_allclose(tcp, base_rotation @ (flange + tool), atol=1e-6)


def test_link_masses_and_torque_limits(reach_env: TaskEnv) -> None:
    model = reach_env.task.robot.model
    masses = [model.body_mass[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, f"link{i}")]
              for i in range(1, 7)]
    np.testing.assert_allclose(masses, [3.761, 8.058, 2.846, 1.37, 1.3, 0.365])
    np.testing.assert_allclose(model.actuator_ctrlrange[:6, 1], [150, 150, 150, 28, 28, 28])


def test_proportional_policy_reaches_the_goal(reach_env: TaskEnv) -> None:
    finals = []
    for _ in range(2):
        obs = reach_env.reset()
        start = float(obs["log/distance"])
        while not obs["is_last"]:
            vector = obs["vector"]
            action = np.clip((vector[9:12] - vector[6:9]) / 0.05, -1, 1).astype(np.float32)
            obs = reach_env.step({"action": action})
        finals.append(float(obs["log/distance"]))
        assert start > 0.03
    assert max(finals) < 0.01, finals
    assert reach_env.task.arm.ik.failures == 0


def scripted_pick_place(task: pp.PickPlace) -> int:
    """Privileged scripted policy: go over the object, grasp, carry to the other bin, release."""
    tcp = task.arm.commanded
    if not task.holding:
        if task.arm.gripper == 0.0:
            return 5
        offset = task.object_position()[:2] - tcp[:2]
        if np.abs(offset).max() > 0.02:
            axis = int(np.argmax(np.abs(offset)))
            return 2 * axis + int(offset[axis] > 0)
        return 4
    target = pp.RIGHT if task.grasped_bin == pp.LEFT else pp.LEFT
    offset = pp.BIN_Y[target] - tcp[1]
    return (2 if offset < 0 else 3) if abs(offset) > 0.03 else 5


def test_scripted_policy_grasps_then_places(pick_env: TaskEnv) -> None:
    task = pick_env.task
    for _ in range(2):
        obs = pick_env.reset()
        start_side = pp.side_of(task.object_position()[1])
        rewards, placed_side = [], None
        while not obs["is_last"]:
            obs = pick_env.step({"action": np.int32(scripted_pick_place(task))})
            rewards.append(float(obs["reward"]))
            if obs["reward"] == 10.0:
                placed_side = pp.side_of(task.object_position()[1])
        assert rewards.count(1.0) >= 1 and rewards.count(10.0) == 1, rewards
        assert rewards.index(1.0) < rewards.index(10.0)
        assert -1.0 not in rewards
        assert len(rewards) < 40  # ended by the post-place countdown, not the time limit
        assert placed_side not in (start_side, pp.OTHER, None)


def test_release_in_the_same_bin_is_a_drop(pick_env: TaskEnv) -> None:
    task = pick_env.task
    obs = pick_env.reset()
    for _ in range(10):
        action = scripted_pick_place(task)
        obs = pick_env.step({"action": np.int32(action)})
        if action == 4:
            break
    assert obs["reward"] == 1.0 and task.holding
    assert task.object_position()[2] > 0.08  # lifted by the weld
    obs = pick_env.step({"action": np.int32(5)})
    assert obs["reward"] == -1.0 and not task.holding
    for _ in range(4):
        pick_env.step({"action": np.int32(0)})
    assert task.object_position()[2] < 0.03  # fell back into its bin


def test_close_far_from_the_object_grasps_nothing(pick_env: TaskEnv) -> None:
    task = pick_env.task
    pick_env.reset()
    task.robot.data.qpos[task._object_qpos:task._object_qpos + 2] = [pp.BIN_X, 0.0]  # in the gap
    mujoco.mj_forward(task.robot.model, task.robot.data)
    obs = pick_env.step({"action": np.int32(4)})
    assert obs["reward"] == 0.0 and not task.holding
    assert obs["gripper_pos"][0] > 0.9


def test_pick_place_observations(pick_env: TaskEnv) -> None:
    obs = pick_env.reset()
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    assert obs["image"].std() > 5.0
    assert obs["gripper_side"].sum() == 1.0 and obs["grasped_side"][pp.OTHER] == 1.0
    assert pick_env.spec.action["action"].classes == 6
