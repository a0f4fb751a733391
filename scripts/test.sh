#!/usr/bin/env bash
# The README's test command: set up .venv (first run installs everything), lint, run the default
# test suite (slow and fault-injection suites are behind markers: pass -m slow / -m faults).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/ensure_venv.sh
export MUJOCO_GL=${MUJOCO_GL:-egl}
echo "[test] ruff check" >&2
.venv/bin/ruff check onboard offboard shared firmware_bridge tests bench
echo "[test] pytest" >&2
if [ "$#" -eq 0 ]; then set -- -m "not slow and not faults"; fi
exec .venv/bin/python -m pytest "$@"
