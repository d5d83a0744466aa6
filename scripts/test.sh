#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the interop tests need
# (a Python venv with pynsq, nsqjs from npm) under the repository, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/interop-setup.sh
export NSQ_INTEROP_PYTHON="$PWD/.venv/bin/python"
export NSQ_INTEROP_NODE_MODULES="$PWD/interop/node_modules"
cargo test --workspace --all-targets "$@"
cargo test --workspace --doc
