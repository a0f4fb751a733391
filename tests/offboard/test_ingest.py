"""The ingest server: handshake refusals (spec, version, identity), CURVE, malformed input."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from offboard.ingest import Ingest, IngestConfig
from offboard.ingest_config import HELLO_REQUIRED, IngestError
from onboard.link import Link
from shared.codec import encode
from shared.keys import generate_deployment
from shared.protocol import (
    Heartbeat,
    Hello,
    Reject,
    RejectCode,
    Welcome,
    decode_message,
    encode_message,
)
from shared.spec import EnvSpec, Space
from tests.onboard.link_fakes import (
    assert_exactly_once,
    link_config,
    make_step,
    open_replay,
    wait_for,
)
from tests.onboard.onnx_fakes import SPEC

OTHER_SPEC = EnvSpec.create({"joints": Space(np.float32, (4,), -10.0, 10.0)},
                            {"action": Space(np.float32, (2,), -1.0, 1.0)})


@pytest.fixture
def served(tmp_path: Path):
    """A running server on a free port with its replay: ``(server, replay, endpoint)``."""
    replay = open_replay(tmp_path / "replay")
    config = IngestConfig(bind="tcp://127.0.0.1:0", heartbeat_interval=0.1, peer_timeout=1.0,
                          reject_interval=0.2)
    server = Ingest(config, SPEC, replay).start()
    yield server, replay, server.endpoint
    server.stop()
    replay.close()


def _raw_dealer(context: zmq.Context, endpoint: str) -> zmq.Socket:
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVTIMEO, 3000)
    socket.connect(endpoint)
    return socket


def test_bound_endpoint_reports_the_port(served) -> None:
    _server, _, endpoint = served
    assert endpoint.startswith("tcp://127.0.0.1:") and not endpoint.endswith(":0")


def test_wrong_spec_is_refused_on_both_sides(served, tmp_path: Path, caplog) -> None:
    server, replay, endpoint = served
    caplog.set_level(logging.ERROR)
    link = Link(link_config(endpoint, tmp_path / "spool"), OTHER_SPEC).start()
    try:
        for index in range(5):
            link.record(make_step(index, OTHER_SPEC))
        wait_for(lambda: link.status().state == "rejected", 5, "REJECT")
        reason = link.status().reject_reason
        assert reason.startswith(RejectCode.SPEC_MISMATCH)
        assert SPEC.hash[:16] in reason and OTHER_SPEC.hash[:16] in reason
        assert "joints" in reason
        robot_lines = [r.getMessage() for r in caplog.records if r.name == "onboard.link"]
        assert any(OTHER_SPEC.hash in line and SPEC.hash[:16] in line for line in robot_lines)
        trainer_lines = [r.getMessage() for r in caplog.records if r.name == "offboard.ingest"]
        assert any(SPEC.hash[:16] in line and OTHER_SPEC.hash[:16] in line
                   for line in trainer_lines)
        assert server.counters["spec_mismatch"] == 1
        wait_for(lambda: link.status().pending_steps == 5, 5, "steps kept in the spool")
        assert replay.streams() == [] and server.robots["a1"].transitions == 0
    finally:
        link.stop(0.2)


def test_wrong_protocol_version_is_refused_with_both_versions(served) -> None:
    server, replay, endpoint = served
    context = zmq.Context()
    socket = _raw_dealer(context, endpoint)
    try:
        hello = Hello("a1", "r1", SPEC, 0).to_payload()
        hello["protocol_version"] = 2
        socket.send(encode({"version": 2, "kind": "HELLO", "seq": 1, "time": 0.0,
                            "payload": hello}))
        reply = decode_message(socket.recv()).message
        assert isinstance(reply, Reject) and reply.code == RejectCode.VERSION_MISMATCH
        assert "speaks 1" in reply.reason and "sent 2" in reply.reason
        assert server.counters["version_mismatch"] == 1 and replay.streams() == []
    finally:
        socket.close()
        context.term()


def test_messages_before_hello_and_garbage_are_rejected_and_counted(served) -> None:
    server, replay, endpoint = served
    context = zmq.Context()
    socket = _raw_dealer(context, endpoint)
    try:
        socket.send(encode_message(Heartbeat(), 1))
        reply = decode_message(socket.recv()).message
        assert isinstance(reply, Reject) and reply.code == HELLO_REQUIRED
        socket.send(encode_message(Hello("a1", "r1", SPEC, 0), 2))
        welcome = decode_message(socket.recv()).message
        assert isinstance(welcome, Welcome) and welcome.next_seq == 0
        time.sleep(0.25)  # past reject_interval: the next REJECT may go out
        for garbage in (b"", b"\x00\x01garbage", b"\xc1" * 100):
            socket.send(garbage)
        socket.send_multipart([b"two", b"frames"])
        wait_for(lambda: server.counters["malformed"] == 4, 5, "malformed counted")
        assert server.malformed_by_peer["a1"] == 4 and server.robots["a1"].malformed == 4
        assert server.counters["rejects_suppressed"] >= 1  # rate-limited REJECTs
        rejects = []
        while socket.poll(100):
            message = decode_message(socket.recv()).message
            if isinstance(message, Reject):
                rejects.append(message)
        assert 1 <= len(rejects) < 4 and rejects[0].code == RejectCode.MALFORMED
        assert replay.streams() == []
    finally:
        socket.close()
        context.term()


def test_curve_allows_known_robots_only(tmp_path: Path) -> None:
    keys = generate_deployment(tmp_path / "keys", ["a1", "b2"])
    intruder = generate_deployment(tmp_path / "intruder", ["a1"])["a1"]
    # the right trainer key, but a robot key the trainer never saw
    (intruder / "trainer.key").write_bytes((keys["a1"] / "trainer.key").read_bytes())
    replay = open_replay(tmp_path / "replay")
    config = IngestConfig(bind="tcp://127.0.0.1:0", keys_dir=str(keys["trainer"]),
                          heartbeat_interval=0.1, peer_timeout=1.0)
    server = Ingest(config, SPEC, replay).start()
    endpoint = server.endpoint
    good = Link(link_config(endpoint, tmp_path / "good", keys_dir=str(keys["a1"])), SPEC)
    stranger = Link(link_config(endpoint, tmp_path / "stranger",
                                keys_dir=str(intruder)), SPEC)
    _copy_keys(keys["b2"], tmp_path / "b2-as-a1", "b2", "a1")  # b2's key, a1's name
    impostor = Link(link_config(endpoint, tmp_path / "impostor", robot_id="a1",
                                keys_dir=str(tmp_path / "b2-as-a1")), SPEC)
    links = [good.start(), stranger.start(), impostor.start()]
    try:
        for index in range(100):
            for link in links:
                link.record(make_step(index))
        wait_for(lambda: good.status().acked_seq == 99, 10, "the allowed robot's steps")
        wait_for(lambda: impostor.status().state == "rejected", 5, "the impostor's REJECT")
        assert impostor.status().reject_reason.startswith(RejectCode.UNKNOWN_ROBOT)
        assert "'b2'" in impostor.status().reject_reason
        assert server.counters["identity_refused"] == 1
        assert stranger.status().state in ("connecting", "hello_sent")
        assert stranger.status().acked_seq == -1 and stranger.status().rejects == 0
        assert replay.streams() == [good.stream]
        assert_exactly_once(replay, good.stream, 100)
    finally:
        for link in links:
            link.stop(0.2)
        server.stop()
        replay.close()


def _copy_keys(source: Path, target: Path, name: str, new_name: str) -> None:
    """Robot ``name``'s key folder, with its CURVE pair renamed to ``new_name``."""
    target.mkdir()
    for path in source.iterdir():
        target_name = path.name.replace(f"{name}.key", f"{new_name}.key")
        (target / target_name).write_bytes(path.read_bytes())


def test_stopping_trainer_says_goodbye_after_the_last_ack(tmp_path: Path) -> None:
    replay = open_replay(tmp_path / "replay")
    server = Ingest(IngestConfig(bind="tcp://127.0.0.1:0", heartbeat_interval=0.1,
                                 peer_timeout=5.0), SPEC, replay).start()
    link = Link(link_config(server.endpoint, tmp_path / "spool", peer_timeout=60.0),
                SPEC).start()
    try:
        wait_for(lambda: link.status().connected, 5, "WELCOME")
        for seq in range(10):
            link.record(make_step(seq))
        wait_for(lambda: link.status().acked_seq == 9, 5, "ACK")
        server.stop()
        # one goodbye per welcomed robot, sent after the final ACK, and read by the robot (it
        # was lost in 1 stop of 6 to 15 before the server kept the socket open goodbye_grace)
        assert server.counters["goodbyes"] == 1 and server.counters["send_failures"] == 0
        assert link.status().pending_steps == 0 and link.status().state != "rejected"
        wait_for(lambda: link.status().rejects == 1, 5, "the goodbye at the robot")
        assert link.status().reject_reason.startswith(RejectCode.BUSY)
    finally:
        link.stop(1.0)
        replay.close()


def test_ingest_config_refuses_a_negative_goodbye_grace() -> None:
    with pytest.raises(IngestError, match=r"goodbye_grace must be >= 0, got -0\.1"):
        IngestConfig(goodbye_grace=-0.1)
