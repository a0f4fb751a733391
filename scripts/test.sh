#!/usr/bin/env bash
# The README's test command: set up .venv (first run installs everything), lint, run the default
# test suite, then the fault-injection suite (tests/faults: trainer kills, a one-minute link cut,
# onboard kill and restart, silent firmware; about 3 min). With arguments, pytest gets them
# instead (e.g. `-m slow` for the long suites, `-m faults`, or a test path).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/ensure_venv.sh
export MUJOCO_GL=${MUJOCO_GL:-egl}
echo "[test] ruff check" >&2
.venv/bin/ruff check onboard offboard shared firmware_bridge tests bench
if [ "$#" -gt 0 ]; then
  echo "[test] pytest $*" >&2
  exec .venv/bin/python -m pytest "$@"
fi
echo "[test] pytest: default suite" >&2
.venv/bin/python -m pytest -m "not slow and not faults"
echo "[test] pytest: fault-injection suite" >&2
exec .venv/bin/python -m pytest -m faults -s -q
