#!/usr/bin/env bash
# Installs the system packages the test suite uses. Python packages come from pyproject's [test] extra.
# As root (CI, dev machines here) missing Debian packages are installed; otherwise we say what is missing.
set -euo pipefail
need=()
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
command -v curl >/dev/null 2>&1 || need+=(curl)
[ -x /usr/bin/chromium ] || need+=(chromium)          # page tests (Playwright drives it)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)   # proxy tests
command -v openssl >/dev/null 2>&1 || need+=(openssl)  # self-signed certificate for nginx
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)  # systemd-analyze verify
command -v runuser >/dev/null 2>&1 || need+=(util-linux)  # deploy.sh migrates as the service user
# deploy.sh's release virtualenv for that user: a system Python with venv, as a server has
/usr/bin/python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "test-deps: missing Debian packages: ${need[*]} (install them with apt-get as root)" >&2
  [ "${CI:-}" = "true" ] && exit 1
fi
