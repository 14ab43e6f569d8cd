#!/usr/bin/env bash
# Installs the Debian packages the tests drive for real (nothing else): Chromium for the
# HTML report, graphviz's `dot` for DOT output, lldb for `refscope attach` (gdb 13 cannot
# call functions in a process on CPUs with AMX state). Skips what is already present.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v dot >/dev/null 2>&1 || need+=(graphviz)
command -v lldb-16 >/dev/null 2>&1 || command -v lldb >/dev/null 2>&1 || need+=(lldb-16)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "refscope: missing ${need[*]} (tests that need them will be skipped); install them with apt-get" >&2
  exit 0
fi
echo "refscope: installing ${need[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
