#!/usr/bin/env sh
# Packs a built binary into a .deb with dpkg-deb (no root needed):
#
#   firmware/debian/build-deb.sh BINARY ARCH VERSION OUTDIR
#
# The package installs /usr/bin/discodo, the unit
# /lib/systemd/system/discodo.service and the default config
# /etc/discodo/discodo.conf (a conffile: local edits survive upgrades),
# and ships the maintainer scripts beside this file. It owns nothing under
# /var/lib: the state directory belongs to systemd (StateDirectory=) and
# survives upgrades and removal; only purge deletes it. DEB_COMPRESSION
# (default xz) is passed to dpkg-deb -Z; the tests use gzip for speed.
set -eu
umask 022
[ $# -eq 4 ] || { echo "usage: $0 BINARY ARCH VERSION OUTDIR" >&2; exit 2; }
bin=$1 arch=$2 version=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
fw=$(dirname "$here")

# Debian version: "0.1.0-dev" sorts before "0.1.0" as "0.1.0~dev".
debver=$(echo "$version" | tr - '~')-${DEB_REVISION:-1}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/pkg
mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/lib/systemd/system" "$pkg/etc/discodo" "$pkg/usr/share/doc/discodo"
install -m 0755 "$bin" "$pkg/usr/bin/discodo"
install -m 0644 "$fw/discodo.service" "$pkg/lib/systemd/system/discodo.service"
install -m 0640 "$fw/discodo.conf" "$pkg/etc/discodo/discodo.conf"
install -m 0644 "$fw/README.md" "$pkg/usr/share/doc/discodo/README.md"
for s in postinst prerm postrm; do install -m 0755 "$here/$s" "$pkg/DEBIAN/$s"; done
install -m 0644 "$here/conffiles" "$pkg/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: discodo
Version: $debver
Architecture: $arch
Maintainer: discodo-go maintainers <maintainers@discodo-go.invalid>
Installed-Size: $size
Section: sound
Priority: optional
Homepage: https://github.com/discodo-go/discodo
Suggests: yt-dlp
Description: audio node for Discord bots (discodo protocol)
 discodo-go is one static binary that a Discord bot connects to over a
 websocket and REST: the node joins voice channels, plays queues of audio,
 runs WASM audio filters, and keeps its sessions through restarts and
 power cuts. This package runs it as the systemd service discodo.service
 (Type=notify, watchdog, dynamic user, state in /var/lib/discodo).
CONTROL
mkdir -p "$out"
deb=$out/discodo_${debver}_$arch.deb
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$pkg" "$deb" >/dev/null
echo "packed $deb ($(wc -c <"$deb") bytes)" >&2
