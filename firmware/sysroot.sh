#!/usr/bin/env sh
# Fetches Debian's static libopus, libopusfile and libogg for a target
# architecture into a private sysroot, for cgo cross-builds:
#
#   firmware/sysroot.sh arm64 armhf     # prints nothing; idempotent
#   firmware/sysroot.sh --dir arm64     # prints the sysroot's path
#
# The system's apt configuration is left alone: no foreign architecture is
# added (dpkg --add-architecture breaks later `apt-get update`s when one
# foreign index fails, see shared/notes/toolchain.md). apt reads the
# target's package lists into a private directory and `apt-get download`
# fetches the .debs, which dpkg-deb unpacks into the sysroot.
#
# Cache: ${DISCODO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/discodo-go}/sysroot/ARCH
set -eu

cache=${DISCODO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/discodo-go}
pkgs="libopus-dev libopus0 libopusfile-dev libopusfile0 libogg-dev libogg0"

if [ "${1:-}" = "--dir" ]; then
  echo "$cache/sysroot/$2"
  exit 0
fi
[ $# -gt 0 ] || { echo "usage: $0 [--dir] arm64|armhf..." >&2; exit 2; }

for arch in "$@"; do
  case $arch in arm64 | armhf) ;; *) echo "sysroot.sh: unknown architecture $arch" >&2; exit 2 ;; esac
  sr=$cache/sysroot/$arch
  [ -f "$sr/.complete" ] && continue
  echo "fetching the $arch sysroot into $sr" >&2
  work=$cache/apt/$arch
  rm -rf "$sr" "$work/debs"
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$sr"
  o="-oAPT::Architecture=$arch -oAPT::Architectures=$arch -oDir::State::Lists=$work/lists -oDir::Cache=$work/cache -oDebug::NoLocking=1"
  # The update may exit 100 when one index (often security's) is missing
  # for the architecture; the download below is what must work.
  # shellcheck disable=SC2086
  apt-get $o -qq update >/dev/null 2>&1 || true
  # shellcheck disable=SC2086
  (cd "$work/debs" && apt-get $o -qq download $pkgs 2>&1 | grep -v "^W: Download is performed unsandboxed" >&2 || true)
  for p in $pkgs; do
    ls "$work/debs/${p}_"*"_$arch.deb" >/dev/null 2>&1 || { echo "sysroot.sh: could not download $p:$arch" >&2; exit 1; }
  done
  for f in "$work/debs"/*.deb; do dpkg-deb -x "$f" "$sr"; done
  triplet=$( [ "$arch" = arm64 ] && echo aarch64-linux-gnu || echo arm-linux-gnueabihf )
  for lib in libopus.a libopusfile.a libogg.a; do
    [ -f "$sr/usr/lib/$triplet/$lib" ] || { echo "sysroot.sh: $lib missing in $sr" >&2; exit 1; }
  done
  (cd "$work/debs" && ls) >"$sr/.complete"
done
