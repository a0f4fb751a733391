"""Footprint of the robot side: the ``onboard`` extra installed alone, and the runtime's cost.

1. A fresh virtual environment in a temporary folder gets ``pip install <repo>[onboard]`` (pip
   may use its cache; nothing is pinned). Checked: torch is *not* installed, every ``onboard``
   module imports. Reported: the size of its site-packages (``du``), the biggest packages.
2. In that environment (no torch, no MuJoCo): a small script using only onboard modules drives
   the :class:`onboard.runtime.Runtime` at ``--hz`` on a tiny in-script robot with an ONNX
   policy (exported beforehand in *this* environment with the real exporter, ``--preset``).
   Reported: interpreter start to first action (imports, session creation, first inference),
   the resident set size (RSS) after ``--ticks`` ticks, and that process's import time alone.

Ends with one JSON line. Example: ``python bench/onboard_footprint.py --keep /tmp/onboard-venv``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ONBOARD_MODULES = ("onboard.batcher", "onboard.cli", "onboard.clock", "onboard.config",
                   "onboard.firmware_robot", "onboard.link", "onboard.link_config",
                   "onboard.link_status", "onboard.policy", "onboard.policy_updates",
                   "onboard.rate_loop", "onboard.robot", "onboard.runtime", "onboard.safety",
                   "onboard.spool", "onboard.timing")

#: Run inside the onboard-only environment: a fake robot, the runtime, the policy, timings.
PROBE = r'''
import json, sys, time
started = float(sys.argv[1])

def memory_mb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

import_start = time.perf_counter()
import numpy as np
from onboard.policy import load_policy
from onboard.runtime import Runtime, RuntimeConfig
from shared.spec import EnvSpec
imported = time.perf_counter() - import_start
rss_imported = memory_mb("VmRSS")
spec = EnvSpec.from_canonical(json.loads(open(sys.argv[2]).read()))

class Robot:
    """16 floats of proprioception, a 12-d action, episodes of 1000 ticks."""
    def __init__(self):
        self.spec, self.tick = spec, 0
    def reset(self):
        self.tick = 0
    def sense(self):
        self.tick += 1
        return {"vector": np.full(16, 0.1, np.float32), "reward": np.float32(0.0),
                "is_first": np.bool_(self.tick == 1), "is_last": np.bool_(self.tick >= 1000),
                "is_terminal": np.bool_(False)}
    def act(self, action):
        if first_action[0] is None:
            first_action[0] = time.time()
    def fault(self):
        return None
    def safe_action(self):
        return {"action": np.zeros(12, np.float32)}
    def halt(self):
        pass
    def close(self):
        pass

first_action = [None]
runtime = Runtime(Robot(), RuntimeConfig(hz=float(sys.argv[4]), mode="sample"))
runtime.offer_policy(load_policy(open(sys.argv[3], "rb").read(), spec, 1))
rss_loaded = memory_mb("VmRSS")
summary = runtime.run(max_ticks=int(sys.argv[5]))
print(json.dumps({"first_action_s": first_action[0] - started, "import_s": imported,
                  "rss_after_imports_mb": rss_imported, "rss_after_policy_load_mb": rss_loaded,
                  "rss_mb": memory_mb("VmRSS"), "peak_rss_mb": memory_mb("VmHWM"),
                  "torch_loaded": "torch" in sys.modules, "policy_swaps": summary["policy_swaps"],
                  "overruns": summary["loop"]["overruns"],
                  "infer_p99_ms": summary["infer"]["p99_ms"]}))
'''


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="size1m", help="size of the exported policy")
    parser.add_argument("--hz", type=float, default=50.0)
    parser.add_argument("--ticks", type=int, default=250, help="ticks before measuring RSS")
    parser.add_argument("--keep", default="", help="create the environment here and keep it "
                        "(default: a temporary folder, removed after)")
    return parser.parse_args()


def create_environment(folder: Path) -> Path:
    """A fresh venv with only ``<repo>[onboard]``; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    python = folder / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    f"{ROOT}[onboard]"], check=True, cwd=folder)
    return python


def site_packages(python: Path) -> Path:
    """The environment's site-packages folder."""
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                          "['purelib'])"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def disk_usage(path: Path) -> int:
    """Bytes under ``path`` (``du -sb``)."""
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def biggest(packages: Path, count: int = 6) -> list[tuple[str, float]]:
    """The ``count`` largest entries of site-packages, in MB."""
    sizes = [(entry.name, disk_usage(entry) / 1e6) for entry in packages.iterdir()]
    return [(name, round(size, 1)) for name, size in sorted(sizes, key=lambda x: -x[1])[:count]]


def check_environment(python: Path) -> dict[str, object]:
    """torch absent, every onboard module importable (outside the repository checkout)."""
    code = ("import importlib.util, sys, json\n"
            f"modules = {list(ONBOARD_MODULES)!r}\n"
            "failed = {}\n"
            "for name in modules:\n"
            "    try:\n        __import__(name)\n"
            "    except Exception as error:\n        failed[name] = repr(error)\n"
            "print(json.dumps({'torch_installed': importlib.util.find_spec('torch') is not None,"
            " 'torch_imported': 'torch' in sys.modules, 'import_failures': failed}))")
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True,
                         cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])


def export_policy(folder: Path, preset: str) -> tuple[Path, Path]:
    """Spec and exported sampling policy of the quadruped-like spec (in this environment)."""
    import numpy as np

    from offboard.agent import Agent
    from offboard.dreamer.config import DreamerConfig
    from offboard.dreamer.export import export_onnx
    from shared.spec import EnvSpec, Space

    spec = EnvSpec.create({"vector": Space(np.float32, (16,))},
                          {"action": Space(np.float32, (12,), -1.0, 1.0)})
    spec_path, policy_path = folder / "spec.json", folder / "policy.onnx"
    spec_path.write_bytes(spec.canonical_bytes())
    policy_path.write_bytes(export_onnx(Agent(spec, DreamerConfig(preset=preset)), mode=False,
                                        policy_version=1))
    return spec_path, policy_path


def probe(python: Path, spec: Path, policy: Path, args: argparse.Namespace) -> dict:
    """Start the runtime script in the onboard-only environment; its figures."""
    script = spec.parent / "probe.py"
    script.write_text(PROBE)
    started = time.time()
    out = subprocess.run([str(python), str(script), repr(started), str(spec), str(policy),
                          str(args.hz), str(args.ticks)], capture_output=True, text=True,
                         check=True, cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    args = parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="onboard-venv-"))
    try:
        started = time.perf_counter()
        python = create_environment(folder / "venv")
        install_s = time.perf_counter() - started
        packages = site_packages(python)
        size = disk_usage(packages)
        environment = check_environment(python)
        spec, policy = export_policy(folder, args.preset)
        figures = probe(python, spec, policy, args)
        top = biggest(packages)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    result = {"site_packages_mb": round(size / 1e6, 1), "install_s": round(install_s, 1),
              **environment, "biggest_mb": top, "preset": args.preset,
              **{key: round(value, 4) if isinstance(value, float) else value
                 for key, value in figures.items()},
              "loadavg1": os.getloadavg()[0]}
    print(f"onboard-only environment: site-packages {result['site_packages_mb']} MB "
          f"(installed in {install_s:.0f} s); torch installed: {environment['torch_installed']}; "
          f"import failures: {environment['import_failures'] or 'none'}")
    print(f"  biggest: {', '.join(f'{name} {mb} MB' for name, mb in top)}")
    print(f"  runtime with a {args.preset} policy at {args.hz:.0f} Hz: first action "
          f"{figures['first_action_s'] * 1e3:.0f} ms after start (imports "
          f"{figures['import_s'] * 1e3:.0f} ms), torch loaded: {figures['torch_loaded']}")
    print(f"  RSS after imports {figures['rss_after_imports_mb']:.0f} MB, after the policy "
          f"load {figures['rss_after_policy_load_mb']:.0f} MB, after {args.ticks} ticks "
          f"{figures['rss_mb']:.0f} MB (peak {figures['peak_rss_mb']:.0f} MB)")
    print(f"  load average {result['loadavg1']:.2f} on {os.cpu_count()} cores")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
