#!/usr/bin/env bash
# The README's main job: set up .venv (first run installs everything), then run the whole
# DayDreamer loop on this machine: simulated firmware over a pty, the onboard runtime with its
# ONNX policy, and the trainer, with generated keys (CURVE + signed policies).
# Extra arguments go to daydreamer-demo, e.g.  bash scripts/main.sh --set minutes=5 --set robots=2
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/ensure_venv.sh
export MUJOCO_GL=${MUJOCO_GL:-egl}
exec .venv/bin/python -m offboard.demo "$@"
