"""``daydreamer-trainer``: the trainer's command line.

Subcommands:
    local   train in-process on a dm_control or gymnasium environment (benchmarks, experiments)
    serve   the network trainer: robots stream to it, it learns and pushes signed policies

Configuration: ``--config file.toml`` and ``--set key.path=value`` (see ``shared.config``); the
resolved configuration is written to ``<run_dir>/config.toml``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from shared.config import add_config_arguments, config_from_args
from shared.errors import DaydreamerError

log = logging.getLogger("offboard.cli")


def setup_logging(verbose: bool) -> None:
    """Our loggers at INFO (DEBUG with -v); third-party libraries at WARNING."""
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("offboard", "shared", "__main__"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)


def _local(args: argparse.Namespace) -> int:
    from offboard.local import LocalConfig, LocalRun

    config = config_from_args(LocalConfig, args)
    summary = LocalRun(config).run()
    print(json.dumps(summary))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from offboard.service import ServeConfig, Service

    config = config_from_args(ServeConfig, args)
    service = Service(config)
    service.install_signal_handlers()
    final = service.run()
    print(json.dumps({k: v for k, v in final.items() if k != "robots"}))
    return 1 if final["learner_failed"] else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="daydreamer-trainer", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)
    local = commands.add_parser(
        "local", help="train in-process on one environment",
        description="Collect with the sampling policy and train in one process, e.g.\n"
                    "  daydreamer-trainer local --set env=dmc:cartpole_swingup "
                    "--set env_steps=50000 --set trainer.learner.preset=size1m\n"
                    "Prints a JSON summary (returns, updates, seconds) at the end.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(local)
    local.set_defaults(handler=_local)
    serve = commands.add_parser(
        "serve", help="the network trainer robots stream to",
        description="Receive transitions from robots over ZeroMQ, learn, push signed policies.\n"
                    "  daydreamer-trainer serve --set spec=spec.json --set ingest.bind="
                    "tcp://*:5555 \\\n      --set ingest.keys_dir=keys/trainer "
                    "--set trainer.run_dir=runs/a1\n"
                    "Ctrl-C (or SIGTERM) flushes the replay, checkpoints and exits cleanly.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(serve)
    serve.set_defaults(handler=_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return args.handler(args)
    except DaydreamerError as error:
        print(f"daydreamer-trainer: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("daydreamer-trainer: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
