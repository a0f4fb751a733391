#!/usr/bin/env bash
# Create or refresh .venv with every extra. Re-installs only when pyproject.toml or
# constraints.txt changed since the last successful install (stamp file holds their hash).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${DAYDREAMER_VENV:-$root/.venv}
py=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating virtual environment $venv" >&2
  "$py" -m venv "$venv"
fi
want=$(cat "$root/pyproject.toml" "$root/constraints.txt" | sha256sum | cut -d' ' -f1)
have=$(cat "$venv/.daydreamer-stamp" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  echo "[setup] installing daydreamer[onboard,offboard,sim,bench,dev] (first run takes a few minutes)" >&2
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  "$venv/bin/python" -m pip install -q -c "$root/constraints.txt" torch==2.13.0 >&2
  "$venv/bin/python" -m pip install -q -c "$root/constraints.txt" -e "$root[onboard,offboard,sim,bench,dev]" >&2
  echo "$want" > "$venv/.daydreamer-stamp"
fi
