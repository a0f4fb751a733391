"""SimRobot control loops, sensors, reward shaping, task registry and the Env adapter."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_bridge.sim.render import FastRenderer, RenderError
from firmware_bridge.sim.rewards import tolerance
from firmware_bridge.sim.robots import a1_model
from firmware_bridge.sim.robots.base import PDConfig, SimRobot, SimRobotError, roll_pitch
from firmware_bridge.sim.robots.cartpole import CartpoleSwingup
from firmware_bridge.sim.robots.quadruped import A1Walk, WalkConfig
from firmware_bridge.sim.tasks import TASKS, TaskEnv, make_task
from firmware_bridge.task_math import TaskMathError
from shared.errors import DaydreamerError, SpecViolationError


def test_pd_targets_are_clipped_to_joint_limits_and_counted() -> None:
    robot = A1Walk().robot
    used = robot.apply(np.full(12, 10.0))
    np.testing.assert_allclose(used, a1_model.JOINT_HIGH)
    assert robot.clipped == 12
    robot.apply(a1_model.STANDING_POSE)
    assert robot.clipped == 12


def test_pd_torque_is_clipped_to_the_motor_limit() -> None:
    robot = A1Walk().robot
    robot.reset()
    robot.targets = robot.joint_positions() + 1.0  # 100 N*m/rad * 1 rad > 33.5 N*m
    np.testing.assert_allclose(robot.pd_torque(), np.full(12, 33.5))


def test_bad_targets_and_bad_construction_raise() -> None:
    robot = CartpoleSwingup().robot
    with pytest.raises(SimRobotError, match=r"shape \(1,\)"):
        robot.apply(np.zeros(2))
    with pytest.raises(SimRobotError, match="finite"):
        robot.apply(np.array([np.nan]))
    with pytest.raises(SimRobotError, match="no joint named 'knee'"):
        SimRobot(robot.model, ["knee"], pd=PDConfig(kp=(1.0,), kd=(1.0,)))
    with pytest.raises(SimRobotError, match="mode"):
        SimRobot(robot.model, ["slider"], mode="torque")
    assert issubclass(SimRobotError, DaydreamerError)


def test_step_runs_the_physics_steps_of_one_control_period() -> None:
    robot = A1Walk().robot
    assert robot.step(0.05) == 25 and robot.physics_steps == 25
    assert robot.data.time == pytest.approx(0.05)


def test_roll_pitch_of_known_rotations() -> None:
    half = np.sqrt(0.5)
    np.testing.assert_allclose(roll_pitch(np.array([1.0, 0, 0, 0])), [0, 0], atol=1e-12)
    np.testing.assert_allclose(roll_pitch(np.array([half, half, 0, 0])), [np.pi / 2, 0])
    np.testing.assert_allclose(roll_pitch(np.array([np.cos(0.2), 0, np.sin(0.2), 0])), [0, 0.4])


def test_tolerance_shapes() -> None:
    assert tolerance(0.5, bounds=(0, 1)) == 1.0
    assert tolerance(2.0, margin=2.0) == pytest.approx(0.1)  # value_at_margin
    assert tolerance(1.0, margin=1.0, sigmoid="quadratic", value_at_margin=0.0) == 0.0
    assert tolerance(0.5, margin=1.0, sigmoid="quadratic", value_at_margin=0.0) == 0.75
    assert tolerance(0.5, margin=1.0, sigmoid="linear", value_at_margin=0.0) == 0.5
    with pytest.raises(TaskMathError, match="sigmoid"):
        tolerance(1.0, margin=1.0, sigmoid="cubic")


def test_registry_and_env_protocol_errors() -> None:
    assert set(TASKS) == {"cartpole_swingup", "a1_walk", "sphere_goal", "ur5_reach",
                          "ur5_pick_place"}
    with pytest.raises(SimRobotError, match="unknown task 'walker'"):
        make_task("walker")
    with pytest.raises(SimRobotError, match=r"bad config for task 'a1_walk'.*speed"):
        make_task("a1_walk", speed=1.0)
    env = TaskEnv(CartpoleSwingup())
    with pytest.raises(SimRobotError, match="before reset"):
        env.step({"action": np.zeros(1, np.float32)})
    env.reset()
    with pytest.raises(SpecViolationError, match="outside"):
        env.step({"action": np.array([2.0], np.float32)})


def test_render_after_close_raises() -> None:
    robot = CartpoleSwingup().robot
    renderer = FastRenderer(robot.model, 16)
    assert renderer.render(robot.data).shape == (16, 16, 3)
    renderer.close()
    with pytest.raises(RenderError):
        renderer.render(robot.data)


def test_menagerie_directory_is_used_when_given(tmp_path) -> None:
    with pytest.raises(SimRobotError, match="no Menagerie A1 model"):
        A1Walk(WalkConfig(menagerie_dir=str(tmp_path)))
    folder = tmp_path / "unitree_a1"
    folder.mkdir()
    xml = a1_model.a1_xml()
    assert xml.count('mass="4.713"') == 1
    (folder / "scene.xml").write_text(xml.replace('mass="4.713"', 'mass="5.5"'))
    task = A1Walk(WalkConfig(menagerie_dir=str(tmp_path)))
    assert task.robot.model.nu == 12
    assert task.robot.model.body_mass[1] == pytest.approx(5.5)  # the file on disk was used
