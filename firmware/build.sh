#!/usr/bin/env sh
# Builds the node as static binaries (libopus, libopusfile and libogg
# linked in, the pure-Go DNS resolver and user lookup) and, with --deb,
# the .deb packages:
#
#   firmware/build.sh                    # dist/discodo-linux-{amd64,arm64,armhf}
#   firmware/build.sh --deb arm64        # also dist/discodo_<version>_arm64.deb
#
# ARCH is a Debian architecture: amd64 (the host), arm64, armhf (GOARM=7).
# The ARM builds use Debian's cross compilers and a private sysroot of the
# target's -dev packages (firmware/sysroot.sh); firmware/deps.sh --cross
# installs both. Environment: DIST (output directory, default dist/),
# DISCODO_VERSION (default: main.go's version), DEB_REVISION (default 1).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

deb=false
if [ "${1:-}" = "--deb" ]; then deb=true; shift; fi
[ $# -gt 0 ] || set -- amd64 arm64 armhf
dist=${DIST:-$root/dist}
mkdir -p "$dist"
version=${DISCODO_VERSION:-$(sed -n 's/^var version = "\(.*\)"$/\1/p' main.go)}
[ -n "$version" ] || { echo "build.sh: no version in main.go" >&2; exit 1; }

for arch in "$@"; do
  case $arch in
    amd64) goarch=amd64 goarm= cc=${CC_AMD64:-gcc} triplet=x86_64-linux-gnu ;;
    arm64) goarch=arm64 goarm= cc=aarch64-linux-gnu-gcc triplet=aarch64-linux-gnu ;;
    armhf) goarch=arm goarm=7 cc=arm-linux-gnueabihf-gcc triplet=arm-linux-gnueabihf ;;
    *) echo "build.sh: unknown architecture $arch (amd64, arm64, armhf)" >&2; exit 2 ;;
  esac
  command -v "$cc" >/dev/null || { echo "build.sh: $cc is missing: run firmware/deps.sh --cross" >&2; exit 1; }
  bin=$dist/discodo-linux-$arch
  if [ "$arch" = amd64 ]; then
    pcdir=/usr/lib/$triplet/pkgconfig sysroot=
  else
    "$root/firmware/sysroot.sh" "$arch"
    sysroot=$("$root/firmware/sysroot.sh" --dir "$arch")
    pcdir=$sysroot/usr/lib/$triplet/pkgconfig
  fi
  start=$(date +%s)
  # cgo asks pkg-config for -lopusfile / -lopus without --static, so the
  # static archives' own dependencies go last on the link line, through
  # -extldflags (CGO_LDFLAGS would land before -lopusfile).
  # The sysroot's library dir also goes into CGO_LDFLAGS: that variable is
  # part of Go's build-cache key and PKG_CONFIG_* are not, so a sysroot
  # that moved would otherwise reuse a cached link line pointing at the
  # old place.
  CGO_ENABLED=1 GOOS=linux GOARCH=$goarch GOARM=$goarm CC=$cc \
    CGO_LDFLAGS="-L${sysroot:-/}usr/lib/$triplet" \
    PKG_CONFIG_SYSROOT_DIR=$sysroot PKG_CONFIG_LIBDIR=$pcdir \
    go build -trimpath -tags netgo,osusergo -o "$bin" \
    -ldflags "-s -w -X main.version=$version -extldflags '-static -logg -lopus -lm'" .
  echo "built $bin ($(wc -c <"$bin") bytes, $(($(date +%s) - start)) s)" >&2
  if $deb; then
    "$root/firmware/debian/build-deb.sh" "$bin" "$arch" "$version" "$dist"
  fi
done
