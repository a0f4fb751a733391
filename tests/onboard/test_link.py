"""The streaming link against an in-process ingest server: exactly once, acks, outages."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from offboard.ingest import Ingest, IngestConfig
from onboard.link import Link
from onboard.link_config import LinkConfig, LinkError
from onboard.link_status import flatten_stats
from shared.codec import encode
from shared.protocol import Hello, Welcome, decode_message, encode_message
from tests.onboard.link_fakes import (
    assert_exactly_once,
    free_port,
    link_config,
    make_step,
    open_replay,
    wait_for,
)
from tests.onboard.onnx_fakes import SPEC


def _server(replay_dir: Path, port: int) -> tuple[Ingest, object]:
    replay = open_replay(replay_dir)
    config = IngestConfig(bind=f"tcp://127.0.0.1:{port}", heartbeat_interval=0.1,
                          peer_timeout=1.0, flush_interval=0.05)
    return Ingest(config, SPEC, replay).start(), replay


def test_exactly_once_and_spool_drains(tmp_path: Path) -> None:
    port = free_port()
    server, replay = _server(tmp_path / "replay", port)
    link = Link(link_config(f"tcp://127.0.0.1:{port}", tmp_path / "spool"), SPEC).start()
    try:
        count = 1000
        for index in range(count):
            link.record(make_step(index))
            if index % 100 == 0:
                time.sleep(0.01)
        wait_for(lambda: link.status().acked_seq == count - 1, 10, "every step acknowledged")
        status = link.status()
        assert status.connected and status.pending_batches == 0 and status.pending_steps == 0
        assert status.queue_drops == 0 and status.bad_steps == 0
        assert not list((tmp_path / "spool").glob("*.batch"))
        assert_exactly_once(replay, link.stream, count)
        assert server.robots["a1"].transitions == count
        wait_for(lambda: "link/acked_seq" in server.robots["a1"].stats, 5, "STATS")
    finally:
        assert link.stop(2.0)
        server.stop()
        replay.close()
    assert link.status().state == "stopped"


def test_stop_flushes_the_partial_batch(tmp_path: Path) -> None:
    port = free_port()
    server, replay = _server(tmp_path / "replay", port)
    config = link_config(f"tcp://127.0.0.1:{port}", tmp_path / "spool", batch_max_age=60.0)
    link = Link(config, SPEC).start()
    try:
        wait_for(lambda: link.status().connected, 5, "WELCOME")
        for index in range(10):  # far below batch_max_steps, far younger than batch_max_age
            link.record(make_step(index))
        assert link.stop(5.0), "stop() must get the partial batch acknowledged"
        assert replay.durable_seq(link.stream) == 9
    finally:
        server.stop()
        replay.close()


def test_outage_spools_on_disk_then_drains(tmp_path: Path) -> None:
    port = free_port()
    server, replay = _server(tmp_path / "replay", port)
    link = Link(link_config(f"tcp://127.0.0.1:{port}", tmp_path / "spool"), SPEC).start()
    try:
        for index in range(200):
            link.record(make_step(index))
        wait_for(lambda: link.status().acked_seq == 199, 10, "first part acknowledged")
        server.stop()
        replay.close()
        for index in range(200, 700):
            link.record(make_step(index))
            if index % 50 == 0:
                time.sleep(0.05)
        wait_for(lambda: link.status().pending_steps == 500, 5, "steps spooled during outage")
        assert len(list((tmp_path / "spool").glob("*.batch"))) >= 500 // 64
        assert link.status().acked_seq == 199
        server, replay = _server(tmp_path / "replay", port)
        wait_for(lambda: link.status().acked_seq == 699, 15, "spool drained after restart")
        assert link.status().pending_batches == 0 and link.status().reconnects >= 1
        assert_exactly_once(replay, link.stream, 700)
    finally:
        link.stop(1.0)
        server.stop()
        replay.close()


def test_spool_survives_a_robot_restart(tmp_path: Path) -> None:
    """Steps spooled by a link that could not reach the trainer are sent by the next link."""
    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    first = Link(link_config(endpoint, tmp_path / "spool"), SPEC).start()
    for index in range(100):
        first.record(make_step(index))
    assert not first.stop(0.3)  # nobody listening: nothing acknowledged
    assert first.status().pending_steps == 100
    server, replay = _server(tmp_path / "replay", port)
    second = Link(link_config(endpoint, tmp_path / "spool"), SPEC).start()
    try:
        assert second.stream == first.stream
        for index in range(100, 150):
            second.record(make_step(index))
        wait_for(lambda: second.status().acked_seq == 149, 10, "old and new steps acknowledged")
        assert_exactly_once(replay, second.stream, 150)
    finally:
        second.stop(1.0)
        server.stop()
        replay.close()


def test_record_never_blocks_and_counts_drops(tmp_path: Path) -> None:
    config = link_config("tcp://127.0.0.1:9", tmp_path / "spool", queue_size=10)
    link = Link(config, SPEC)  # not started: nobody drains the queue
    times = []
    for index in range(25):
        started = time.perf_counter()
        link.record(make_step(index))
        times.append(time.perf_counter() - started)
    assert link.status().queue_drops == 15 and link.status().queued_steps == 10
    assert max(times) < 0.01
    link.stop(0.1)


def test_bad_steps_are_counted_not_sent(tmp_path: Path) -> None:
    port = free_port()
    server, replay = _server(tmp_path / "replay", port)
    link = Link(link_config(f"tcp://127.0.0.1:{port}", tmp_path / "spool"), SPEC).start()
    try:
        good = make_step(0)
        link.record(good)
        link.record({**make_step(1), "joints": np.zeros(4, np.float32)})  # wrong shape
        link.record({key: value for key, value in make_step(1).items() if key != "reward"})
        link.record(make_step(1))
        wait_for(lambda: link.status().acked_seq == 1, 10, "good steps acknowledged")
        assert link.status().bad_steps == 2
        assert_exactly_once(replay, link.stream, 2)
    finally:
        link.stop(1.0)
        server.stop()
        replay.close()


def test_config_is_checked() -> None:
    with pytest.raises(LinkError, match="peer_timeout"):
        LinkConfig(heartbeat_interval=2.0, peer_timeout=1.0)
    with pytest.raises(LinkError, match="batch_max_steps"):
        LinkConfig(batch_max_steps=0)


def _raw_router(context: zmq.Context) -> tuple[zmq.Socket, str]:
    router = context.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    return router, f"tcp://127.0.0.1:{port}"


def _hellos(router: zmq.Socket, seconds: float) -> list[bytes]:
    """Routing identities of the HELLOs received within ``seconds``."""
    identities, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        if router.poll(20):
            identity, data = router.recv_multipart()
            if isinstance(decode_message(data).message, Hello):
                identities.append(identity)
    return identities


def test_silent_trainer_gets_a_fresh_socket(tmp_path: Path) -> None:
    context = zmq.Context()
    router, endpoint = _raw_router(context)
    link = Link(link_config(endpoint, tmp_path / "spool", peer_timeout=0.5,
                            heartbeat_interval=0.1), SPEC).start()
    try:
        identities = _hellos(router, 1.4)  # the trainer hangs: it never answers
        assert len(identities) >= 2 and len(set(identities)) == len(identities)
        assert link.status().reconnects >= 1 and not link.status().connected
    finally:
        link.stop(0.1)
        router.close()
        context.term()


def test_heartbeats_keep_a_quiet_link_up(tmp_path: Path) -> None:
    port = free_port()
    server, replay = _server(tmp_path / "replay", port)
    link = Link(link_config(f"tcp://127.0.0.1:{port}", tmp_path / "spool"), SPEC).start()
    try:
        wait_for(lambda: link.status().connected, 5, "WELCOME")
        time.sleep(2.5)  # 2.5 peer timeouts without a single step
        assert link.status().connected and link.status().reconnects == 0
        assert server.robots["a1"].connections == 1
    finally:
        link.stop(0.1)
        server.stop()
        replay.close()


def test_trainer_of_another_protocol_version_stops_the_link(tmp_path: Path) -> None:
    context = zmq.Context()
    router, endpoint = _raw_router(context)
    link = Link(link_config(endpoint, tmp_path / "spool"), SPEC).start()
    try:
        identity = _hellos_first(router)
        future = encode({"version": 9, "kind": "WELCOME", "seq": 1, "time": 0.0, "payload": {}})
        router.send_multipart([identity, future])
        wait_for(lambda: link.status().state == "rejected", 5, "the link to give up")
        reason = link.status().reject_reason
        assert reason.startswith("version_mismatch") and "speaks 1" in reason and "9" in reason
    finally:
        link.stop(0.1)
        router.close()
        context.term()


def _hellos_first(router: zmq.Socket) -> bytes:
    assert router.poll(5000), "no HELLO"
    identity, data = router.recv_multipart()
    assert isinstance(decode_message(data).message, Hello)
    return identity


def test_flatten_stats_keeps_numbers_only() -> None:
    flat = flatten_stats({"loop": {"overruns": 3, "hz": 49.5}, "returns": [1.0, 2.5],
                          "ok": True, "name": "x", "value": np.float32(0.5), "empty": []})
    assert flat == {"loop/overruns": 3, "loop/hz": 49.5, "returns/count": 2,
                    "returns/last": 2.5, "ok": 1, "value": 0.5, "empty/count": 0}


def test_trainer_that_does_not_store_gets_no_transitions(tmp_path: Path) -> None:
    context = zmq.Context()
    router, endpoint = _raw_router(context)
    link = Link(link_config(endpoint, tmp_path / "spool"), SPEC).start()
    try:
        identity = _hellos_first(router)
        router.send_multipart([identity, encode_message(Welcome("t", False, 0, 0.1), 1)])
        wait_for(lambda: link.status().connected, 5, "WELCOME")
        for index in range(100):
            link.record(make_step(index))
        wait_for(lambda: link.status().pending_steps == 100, 5, "steps spooled")
        kinds, deadline = set(), time.monotonic() + 0.5
        while time.monotonic() < deadline:
            if router.poll(20):
                kinds.add(decode_message(router.recv_multipart()[1]).kind)
        assert "TRANSITIONS" not in kinds and link.status().batches_sent == 0
    finally:
        link.stop(0.1)
        router.close()
        context.term()


def test_a_backlog_goes_out_in_catch_up_batches(tmp_path: Path) -> None:
    port = free_port()
    server, replay = _server(tmp_path / "replay", port)
    link = Link(link_config(f"tcp://127.0.0.1:{port}", tmp_path / "spool",
                            batch_catchup_steps=512), SPEC)
    for index in range(2048):  # queued before the network thread runs: a backlog
        link.record(make_step(index))
    link.start()
    try:
        wait_for(lambda: link.status().acked_seq == 2047, 10, "backlog acknowledged")
        assert link.status().batches_sent <= 2048 // 512 + 1
        assert_exactly_once(replay, link.stream, 2048)
    finally:
        link.stop(0.5)
        server.stop()
        replay.close()
