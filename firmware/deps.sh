#!/usr/bin/env sh
# Installs what building and running the node needs on Debian (libopus and
# libopusfile for the cgo Opus codec, pkg-config), and with --test also the
# test oracles (opus-tools, ffmpeg, wabt, Python crypto) and the npm packages
# of the interop tests. --cross (implied by --test) adds the ARM cross
# compilers, qemu-user and the private ARM sysroots of firmware/sysroot.sh
# that firmware/build.sh needs. Safe to run again: it installs only what is
# missing.
set -eu
cd "$(dirname "$0")/.."

test=false cross=false
for a in "$@"; do
  case $a in
    --test) test=true cross=true ;;
    --cross) cross=true ;;
    *) echo "usage: $0 [--test] [--cross]" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive

pkgs="gcc libc6-dev pkg-config libopus-dev libopusfile-dev"
if $test; then
  pkgs="$pkgs opus-tools ffmpeg wabt python3 python3-cryptography python3-nacl python3-websockets ca-certificates git"
  # firmware tests: unit checks (systemd-analyze), package installs.
  pkgs="$pkgs systemd dpkg init-system-helpers"
  command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
fi
if $cross; then
  pkgs="$pkgs gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user"
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

if $cross; then
  # Static libopus for arm64 and armhf, in a cache outside the repository.
  firmware/sysroot.sh arm64 armhf
fi

if $test; then
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
