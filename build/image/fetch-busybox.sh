#!/bin/sh
# fetch-busybox.sh DIR: puts Debian bookworm's static busybox for amd64 and
# arm64 into DIR as busybox-amd64, busybox-arm64 and busybox-copyright
# (GPL-2.0 notice), the shell and tools of the image (docs/image.md). The
# package version and checksums are pinned, so the image stays
# reproducible; a Debian point release that replaces the package makes the
# download fail: update VERSION and the sums below. Without apt (not
# Debian), put static busybox binaries there by hand.
set -eu
DIR=${1:?usage: fetch-busybox.sh DIR}
VERSION=1:1.35.0-4+deb12u1+b1
SUM_amd64=3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744
SUM_arm64=732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5

have() {
	for a in amd64 arm64; do [ -s "$DIR/busybox-$a" ] || return 1; done
	[ -s "$DIR/busybox-copyright" ] && [ "$(cat "$DIR/version" 2>/dev/null)" = "$VERSION" ]
}
have && exit 0

mkdir -p "$DIR"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A private package index, so the build machine's apt configuration (its
# architectures) is left alone.
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/deb"
apt_opts="-q -o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache -o APT::Architectures::=amd64 -o APT::Architectures::=arm64"
# shellcheck disable=SC2086
apt-get $apt_opts update >"$work/update.log" 2>&1 || { cat "$work/update.log"; exit 1; }
cd "$work/deb"
# shellcheck disable=SC2086
apt-get $apt_opts download "busybox-static:amd64=$VERSION" "busybox-static:arm64=$VERSION" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
for a in amd64 arm64; do
	deb=$(ls ./busybox-static_*_"$a".deb 2>/dev/null) || {
		echo "busybox-static $VERSION for $a not downloadable (a newer Debian point release?): update VERSION and the sums in $0" >&2
		exit 1
	}
	eval want=\$SUM_$a
	echo "$want  $deb" | sha256sum -c --quiet -
	dpkg-deb -x "$deb" "x$a"
	cp "x$a/bin/busybox" "$DIR/busybox-$a"
	chmod 0755 "$DIR/busybox-$a"
done
cp xamd64/usr/share/doc/busybox-static/copyright "$DIR/busybox-copyright"
echo "$VERSION" >"$DIR/version"
echo "busybox-static $VERSION (amd64, arm64) in $DIR"
