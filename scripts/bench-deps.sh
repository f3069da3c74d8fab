#!/usr/bin/env bash
# Installs what the benches use beyond Python packages: wrk (Debian), as root.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends wrk >/dev/null
else
  echo "bench-deps: install wrk (apt-get install wrk)" >&2
  exit 1
fi
