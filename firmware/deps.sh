#!/usr/bin/env sh
# Installs what building and running the node needs on Debian (libopus and
# libopusfile for the cgo Opus codec, pkg-config), and with --test also the
# test oracles (opus-tools, ffmpeg, wabt, Python crypto) and the npm packages
# of the interop tests. Safe to run again: it installs only what is missing.
set -eu
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive

pkgs="gcc libc6-dev pkg-config libopus-dev libopusfile-dev"
if [ "${1:-}" = "--test" ]; then
  pkgs="$pkgs opus-tools ffmpeg wabt python3 python3-cryptography python3-nacl ca-certificates git"
  command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
fi
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing:$missing" >&2
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ "${1:-}" = "--test" ]; then
  # npm packages of the interop tests (davey, ts-mls, @discordjs/voice):
  # every folder with a committed lock file.
  for lock in $(git ls-files '*package-lock.json'); do
    dir=$(dirname "$lock")
    if [ ! -d "$dir/node_modules" ]; then
      echo "npm ci in $dir" >&2
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
  done
fi
