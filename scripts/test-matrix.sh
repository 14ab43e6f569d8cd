#!/usr/bin/env bash
# Installs the abi3 wheel from $1 into a fresh venv of every CPython 3.10-3.13 found (pyenv
# or PATH) and runs pytest there. A missing version is skipped with a message; at least
# one must run. Extra arguments go to pytest.
set -euo pipefail
dist=${1:?usage: test-matrix.sh DIST_DIR [pytest args]}
shift
wheel=$(ls "$dist"/refscope-*.whl | head -n 1)
root=${PYENV_ROOT:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")}
ran=0
failed=()
for minor in 3.10 3.11 3.12 3.13; do
  python=""
  for candidate in "$root"/versions/"$minor".*/bin/python"$minor"; do
    [ -x "$candidate" ] && python=$candidate
  done
  if [ -z "$python" ] && command -v "python$minor" >/dev/null 2>&1; then
    python=$(command -v "python$minor")
  fi
  if [ -z "$python" ]; then
    echo "=== CPython $minor: not found, skipped ==="
    continue
  fi
  venv=".venv-$minor"
  echo "=== CPython $minor ($python) ==="
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$venv/bin/python" -m pip install -q -r requirements-test.txt
  "$venv/bin/python" -m pip install -q --force-reinstall --no-deps "$wheel"
  if ! "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"; then
    failed+=("$minor")
  fi
  ran=$((ran + 1))
done
if [ "$ran" -eq 0 ]; then
  echo "no CPython 3.10-3.13 found" >&2
  exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "pytest failed on CPython ${failed[*]}" >&2
  exit 1
fi
echo "pytest passed on $ran interpreter(s)"
