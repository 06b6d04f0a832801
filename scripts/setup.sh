#!/usr/bin/env bash
# Installs what this project needs on a Debian machine, only what is missing.
# Idempotent: a second run installs nothing and takes a second.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

apt_packages=(
  build-essential cmake pkg-config git
  libssl-dev libcurl4-openssl-dev libsqlite3-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format
  python3 zstd xz-utils flac
  nodejs
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# npm comes with nodesource's nodejs; Debian's own nodejs needs the npm package.
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing npm"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

# Local AWS stand-ins: moto (python) and dynalite (npm, pinned in scripts/node/package.json).
if ! python3 -c 'import moto.server, boto3, botocore' 2>/dev/null; then
  echo "setup: python3 cannot import moto.server/boto3/botocore." >&2
  echo "       This machine kind ships them preinstalled; elsewhere: pip install 'moto[server]==5.2.1' boto3" >&2
  exit 1
fi
# npm packages (dynalite, the benchmark's peer signers), pinned by package-lock.json. A stamp with the
# lockfile's hash makes a changed lockfile (or a half-finished install) install again.
node_dir="$root/scripts/node"
if [ -f "$node_dir/package-lock.json" ]; then
  want="$(sha256sum "$node_dir/package-lock.json" | cut -d' ' -f1)"
  have="$(cat "$node_dir/node_modules/.accel-lock-sha256" 2>/dev/null || true)"
  if [ "$want" != "$have" ] || [ ! -f "$node_dir/node_modules/dynalite/package.json" ]; then
    echo "setup: installing npm packages into scripts/node"
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$want" >"$node_dir/node_modules/.accel-lock-sha256"
  fi
fi
