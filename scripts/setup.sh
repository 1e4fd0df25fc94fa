#!/usr/bin/env bash
# Install what is missing, idempotently: Debian packages, the .venv, the front-end libraries.
# Each step is skipped when its stamp says it is already done, so a warm run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

# GRIDMAP_APT_PACKAGES overrides the list (the tests use it to simulate a missing package).
# python3-qgis (with qgis-providers, its OAPIF provider) is for tests/interop/test_qgis.py,
# run by Debian's python3; libblas-dev answers a BLAS dependency deep under it (pythran)
# with the reference BLAS, ~70 MB less than the OpenBLAS apt would pick on its own.
# poppler-utils (pdftotext) reads back the hotspot report PDFs in tests/cases; wrk is the
# HTTP load generator of bench/bench_locate.py (a C client, so it leaves the cores to the server).
APT_PACKAGES="${GRIDMAP_APT_PACKAGES:-postgresql-15 postgresql-15-postgis-3 gdal-bin chromium fonts-wqy-microhei gettext nodejs npm python3-venv python3-qgis qgis-providers libblas-dev poppler-utils wrk}"

missing=""
for p in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# A Python or Node from elsewhere (pyenv, nvm) is fine: only ask Debian for what is absent.
if [ -n "$missing" ]; then
  command -v npm >/dev/null && missing=$(echo "$missing" | tr ' ' '\n' | grep -vx -e nodejs -e npm | xargs echo)
  python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null \
    && missing=$(echo "$missing" | tr ' ' '\n' | grep -vx python3-venv | xargs echo)
fi
if [ -n "${missing// /}" ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"
  else
    echo "setup: these Debian packages are missing and I cannot install them (not root, no sudo):" >&2
    echo "  sudo apt-get install -y ${missing# }" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing# }"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
  # Debian starts a 'main' cluster on 5432 when it installs PostgreSQL; we never use it.
fi

stamp_ok() { [ -f "$2" ] && [ "$(cat "$2")" = "$(sha256sum $1 | sha256sum | cut -c1-64)" ]; }
stamp_write() { sha256sum $1 | sha256sum | cut -c1-64 > "$2"; }

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
if ! stamp_ok requirements.txt .venv/.requirements.stamp; then
  echo "setup: installing Python packages from requirements.txt"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  stamp_write requirements.txt .venv/.requirements.stamp
fi

if ! stamp_ok "package.json package-lock.json scripts/vendor.sh" static/vendor/.stamp; then
  echo "setup: installing front-end libraries from the npm registry"
  npm ci --no-audit --no-fund --loglevel=error
  bash scripts/vendor.sh
  stamp_write "package.json package-lock.json scripts/vendor.sh" static/vendor/.stamp
fi

# Compile the translations (zh-hans is the UI's language; English is the switch).
if ! stamp_ok "$(ls locale/*/LC_MESSAGES/django.po | xargs)" var/.messages.stamp 2>/dev/null; then
  mkdir -p var
  .venv/bin/python manage.py compilemessages -v 0 --ignore=.venv --ignore=node_modules
  stamp_write "$(ls locale/*/LC_MESSAGES/django.po | xargs)" var/.messages.stamp
fi
