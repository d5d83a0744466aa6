#!/usr/bin/env bash
# Installs the third-party NSQ clients the interop tests drive: pynsq in .venv, nsqjs in
# interop/node_modules. Idempotent; quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -c 'import nsq, snappy' 2>/dev/null || .venv/bin/pip install --quiet -r interop/requirements.txt
if [ ! -d interop/node_modules/nsqjs ]; then
  (cd interop && npm install --no-audit --no-fund --silent)
fi
# Headless Chromium + chromedriver for the nsqadmin browser test (Debian packages).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "NOTICE: run as root (or: sudo apt-get install chromium chromium-driver) for the nsqadmin browser test" >&2
  fi
fi
