"""Benchmark of the robot-trainer link: durable transitions/s and policy delivery time.

Throughput: a trainer process (this script with ``--serve``: :class:`offboard.ingest.Ingest`
into a persistent :class:`offboard.replay.Replay`) and this process streaming ``--steps`` proprio
steps (``--obs-dim`` floats of observation, ``--action-dim`` floats of action) through
:class:`onboard.link.Link` (spool with fsync unless ``--no-fsync``) over loopback TCP, as fast as
the link takes them (or paced at ``--rate`` steps/s). Reported: steps acknowledged as durable
per second (first record() to the last ACK). Baseline in the same run: the same TRANSITIONS
frames pushed DEALER -> ROUTER with no spool, no replay and no ACK (the ratio shows what
durability costs).

With ``--learner PRESET`` the throughput is measured a second time with a real learner thread
(:class:`offboard.trainer.Trainer`, one torch thread, unlimited train ratio, batch 16 x 64 or
smaller for ``debug``) training on the same replay in the trainer process, as in
``daydreamer-trainer serve``: ingest must not be starved by the learner.

Policy delivery: ``--policies`` signed policies published by an in-process trainer; measured from
``publish_policy`` to the runtime's ``offer_policy`` (verified and loaded by onnxruntime).

Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import zmq

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from offboard.ingest import Ingest, IngestConfig  # noqa: E402
from offboard.replay import Replay, ReplayConfig, schema_from_spec  # noqa: E402
from onboard.link import Link  # noqa: E402
from onboard.link_config import LinkConfig  # noqa: E402
from onboard.policy_updates import PolicyUpdater  # noqa: E402
from shared.messages import POLICY_VERSION_KEY  # noqa: E402
from shared.protocol import Transitions, encode_message  # noqa: E402
from shared.spec import EnvSpec, Space  # noqa: E402


def proprio_spec(obs_dim: int, action_dim: int) -> EnvSpec:
    """Spec of ``(obs_dim,)`` float32 proprioception and an ``(action_dim,)`` float32 action."""
    return EnvSpec.create({"proprio": Space(np.float32, (obs_dim,), -10.0, 10.0)},
                          {"action": Space(np.float32, (action_dim,), -1.0, 1.0)})


def make_step(spec: EnvSpec, index: int) -> dict[str, np.ndarray]:
    """One step of ``spec``; ``reward`` is ``index``."""
    step = {key: np.zeros(space.shape, space.dtype)
            for part in (spec.observation, spec.action) for key, space in part.items()}
    step["reward"] = np.float32(index)
    step["is_first"] = np.bool_(index % 1000 == 0)
    step[POLICY_VERSION_KEY] = np.int64(0)
    return step


def serve(args: argparse.Namespace) -> None:
    """Trainer side: ingest into a replay (with a learner thread on it when ``--learner``)
    until SIGTERM; prints ``ready`` first and the learner's update count last."""
    spec = proprio_spec(args.obs_dim, args.action_dim)
    trainer = make_trainer(args, spec) if args.learner else None
    replay = trainer.replay if trainer is not None else Replay(
        ReplayConfig(directory=args.serve, capacity=10_000_000), spec.hash,
        schema_from_spec(spec))
    server = Ingest(IngestConfig(bind=f"tcp://127.0.0.1:{args.port}"), spec, replay).start()
    done = threading.Event()
    learner = threading.Thread(target=trainer.run_learner, args=(done,), daemon=True) \
        if trainer is not None else None
    updates_before = 0
    if learner is not None and trainer is not None:
        prefill(trainer.replay, spec)
        learner.start()
        while trainer.agent.updates < 2:  # training (and warmed up) before the stream starts
            time.sleep(0.05)
        updates_before = trainer.agent.updates
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print("ready", flush=True)
    done.wait()
    if learner is not None:
        learner.join()
    server.stop()
    if trainer is not None:
        print(f"updates {trainer.agent.updates - updates_before}", flush=True)
        trainer.close()
    else:
        replay.close()


def prefill(replay: Replay, spec: EnvSpec, steps: int = 2048) -> None:
    """Durable steps of another stream, so the learner trains before the benchmark starts."""
    batch = [make_step(spec, index) for index in range(steps)]
    replay.add(("prefill", "bench"), 0, {key: np.stack([step[key] for step in batch])
                                          for key in batch[0]})
    replay.flush()


def make_trainer(args: argparse.Namespace, spec: EnvSpec):  # -> offboard.trainer.Trainer
    """A learner on ``args.serve`` as run folder: training from the 64th step on, as fast as
    it can, exporting every 30 s, never checkpointing mid-run."""
    from offboard.dreamer.config import DreamerConfig
    from offboard.learner_loop import ScheduleConfig
    from offboard.replay.limiter import LimiterConfig
    from offboard.trainer import Trainer
    from offboard.trainer_config import TrainerConfig

    length = 16 if args.learner == "debug" else 64
    config = TrainerConfig(
        run_dir=args.serve, threads=1,
        learner=DreamerConfig(preset=args.learner, batch_size=16, batch_length=length),
        replay=ReplayConfig(directory="", capacity=10_000_000),
        limiter=LimiterConfig(unlimited=True, min_inserted=64),
        schedule=ScheduleConfig(export_every_s=30.0, checkpoint_every_s=1e9))
    return Trainer(config, spec)


def bench_link(args: argparse.Namespace, workdir: Path, learner: str = "") -> dict[str, float]:
    """Steps/s from the first record() to the ACK of the last step, trainer in a subprocess
    (with a learner thread of preset ``learner`` when given)."""
    port = _free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(workdir / "replay"), "--port", str(port),
         "--obs-dim", str(args.obs_dim), "--action-dim", str(args.action_dim),
         *(["--learner", learner] if learner else [])],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    updates = None
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        spec = proprio_spec(args.obs_dim, args.action_dim)
        config = LinkConfig(endpoint=f"tcp://127.0.0.1:{port}", robot_id="bench",
                            spool_dir=str(workdir / "spool"), batch_max_steps=args.batch,
                            queue_size=args.steps + 1, spool_fsync=args.fsync,
                            inflight_batches=args.inflight)
        link = Link(config, spec).start()
        steps = [make_step(spec, index) for index in range(args.steps)]
        while not link.status().connected:
            time.sleep(0.01)
        start = time.perf_counter()
        _record_all(link, steps, args.rate, start)
        recorded = time.perf_counter()
        while link.status().acked_seq < args.steps - 1:
            time.sleep(0.001)
        elapsed = time.perf_counter() - start
        status = link.status()
        link.stop(1.0)
    finally:
        child.send_signal(signal.SIGTERM)
        remaining, _ = child.communicate(timeout=120)
        counts = [line.split()[1] for line in remaining.splitlines()
                  if line.startswith("updates ")]
        updates = int(counts[0]) if counts else None
    return {"link_transitions_per_s": args.steps / elapsed, "learner_updates": updates,
            "seconds": elapsed,
            "record_us_per_step": (recorded - start) / args.steps * 1e6 if args.rate <= 0
            else None,
            "queue_drops": status.queue_drops, "batches_sent": status.batches_sent}


def _record_all(link: Link, steps: list[dict[str, np.ndarray]], rate: float,
                start: float) -> None:
    """Record every step, at once (``rate`` 0) or paced at ``rate`` steps/s in 1 ms slices."""
    if rate <= 0:
        for step in steps:
            link.record(step)
        return
    for index, step in enumerate(steps):
        delay = start + index / rate - time.perf_counter()
        if delay > 0.001:
            time.sleep(delay)
        link.record(step)


def bench_raw(args: argparse.Namespace) -> float:
    """Baseline: the same TRANSITIONS frames DEALER -> ROUTER, nothing stored, no ACK."""
    spec = proprio_spec(args.obs_dim, args.action_dim)
    batch = [make_step(spec, index) for index in range(args.batch)]
    arrays = {key: np.stack([step[key] for step in batch]) for key in batch[0]}
    frames = args.steps // args.batch
    context = zmq.Context()
    router, dealer = context.socket(zmq.ROUTER), context.socket(zmq.DEALER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    dealer.connect(f"tcp://127.0.0.1:{port}")
    received = threading.Thread(target=lambda: [router.recv_multipart() for _ in range(frames)])
    received.start()
    start = time.perf_counter()
    for index in range(frames):  # encode per batch like the link does
        first = index * args.batch
        message = Transitions("bench", "raw", first, first + args.batch - 1, arrays)
        dealer.send(encode_message(message, first))
    received.join()
    elapsed = time.perf_counter() - start
    router.close(0)
    dealer.close(0)
    context.term()
    return frames * args.batch / elapsed


def bench_policy(args: argparse.Namespace, workdir: Path) -> list[float]:
    """Seconds from publish_policy to offer_policy for each of ``args.policies`` versions."""
    from shared.keys import generate_deployment, load_signing_key, load_verify_key
    from shared.manifest import PolicyManifest, sign_manifest
    from shared.protocol import Policy
    from tests.onboard.onnx_fakes import SPEC, counting_policy

    keys = generate_deployment(workdir / "keys", ["bench"])
    signer = load_signing_key(keys["trainer"] / "policy_signing.secret")
    replay = Replay(ReplayConfig(directory=str(workdir / "policy-replay")), SPEC.hash,
                    schema_from_spec(SPEC))
    server = Ingest(IngestConfig(bind="tcp://127.0.0.1:0", keys_dir=str(keys["trainer"])),
                    SPEC, replay).start()
    arrived: dict[int, float] = {}
    updater = PolicyUpdater(SPEC, lambda p: arrived.setdefault(p.version, time.perf_counter()),
                            load_verify_key(keys["bench"] / "policy_signing.pub")).start()
    link = Link(LinkConfig(endpoint=server.endpoint, robot_id="bench", keys_dir=str(
        keys["bench"]), spool_dir=str(workdir / "policy-spool")), SPEC, updater.submit,
        updater.running).start()
    delays = []
    try:
        while not link.status().connected:
            time.sleep(0.01)
        for version in range(1, args.policies + 1):
            onnx = counting_policy(version=version)
            manifest = PolicyManifest.describe(onnx, version=version, spec_hash=SPEC.hash,
                                               training_step=version, preset="bench",
                                               variant="mode", run_id="bench")
            policy = Policy(version, onnx, manifest.to_dict(), sign_manifest(manifest, signer))
            published = time.perf_counter()
            server.publish_policy(policy)
            while version not in arrived:
                time.sleep(0.0005)
            delays.append(arrived[version] - published)
    finally:
        link.stop(0.5)
        updater.stop()
        server.stop()
        replay.close()
    return delays


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100_000, help="steps to stream")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="offered steps/s (0: all at once, the link drains a backlog)")
    parser.add_argument("--batch", type=int, default=64, help="LinkConfig.batch_max_steps")
    parser.add_argument("--inflight", type=int, default=64, help="LinkConfig.inflight_batches")
    parser.add_argument("--obs-dim", type=int, default=16, help="proprio floats per step")
    parser.add_argument("--action-dim", type=int, default=12, help="action floats per step")
    parser.add_argument("--no-fsync", dest="fsync", action="store_false",
                        help="spool without fsync (the replay still fsyncs)")
    parser.add_argument("--policies", type=int, default=20, help="policy deliveries to time")
    parser.add_argument("--learner", default="",
                        help="also measure with a learner thread of this preset (debug, "
                             "size1m, ...) training in the trainer process")
    parser.add_argument("--serve", default="", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    with tempfile.TemporaryDirectory(prefix="bench-transport-") as folder:
        link = bench_link(args, Path(folder) / "plain")
        with_learner = bench_link(args, Path(folder) / "learner", args.learner) \
            if args.learner else None
        raw = bench_raw(args)
        delays = bench_policy(args, Path(folder))
    figures = {
        **link, "raw_transitions_per_s": raw,
        "link_over_raw": link["link_transitions_per_s"] / raw,
        "policy_delivery_ms_p50": float(np.percentile(delays, 50) * 1e3),
        "policy_delivery_ms_max": float(np.max(delays) * 1e3),
        "steps": args.steps, "batch": args.batch, "spool_fsync": args.fsync,
        "offered_rate": args.rate,
    }
    if with_learner is not None:
        figures.update({
            "learner": args.learner,
            "with_learner_transitions_per_s": with_learner["link_transitions_per_s"],
            "with_learner_over_without": with_learner["link_transitions_per_s"]
            / link["link_transitions_per_s"],
            "learner_updates_during_stream": with_learner["learner_updates"],
            "with_learner_seconds": with_learner["seconds"]})
    offered = f"offered {args.rate:,.0f}/s" if args.rate > 0 else "all at once"
    print(f"link (spool fsync={args.fsync}, batch {args.batch}, {offered}): "
          f"{figures['link_transitions_per_s']:,.0f} durable transitions/s "
          f"({figures['link_over_raw']:.2f} of raw zmq {raw:,.0f}/s); "
          f"record() {figures['record_us_per_step'] or 0:.1f} us/step (0: paced)")
    if with_learner is not None:
        print(f"with a {args.learner} learner thread training in the trainer process: "
              f"{figures['with_learner_transitions_per_s']:,.0f} durable transitions/s "
              f"({figures['with_learner_over_without']:.2f} of without; "
              f"{with_learner['learner_updates']} updates in {with_learner['seconds']:.1f} s)")
    print(f"policy delivery publish -> runtime: p50 {figures['policy_delivery_ms_p50']:.1f} ms, "
          f"max {figures['policy_delivery_ms_max']:.1f} ms over {len(delays)}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
