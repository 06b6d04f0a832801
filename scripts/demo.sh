#!/usr/bin/env bash
# Installs what is missing, builds, and runs the demo on the real data in tests/data/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh" release >/dev/null
exec "$root/scripts/run-demo.sh" "$@"
