#!/usr/bin/env bash
# A slim Debian root filesystem as a gzipped tarball, for the locally made base images
# (scripts/images/build.sh): `debootstrap --variant=minbase`, then the trimming the official
# debian:*-slim images do (no docs but copyright files, no man pages, no locales, no apt lists),
# with dpkg and apt configured to keep it that way for packages installed later.
#
# Usage: rootfs.sh SUITE MIRROR OUT.tar.gz      (as root; needs debootstrap)
# build.sh keys the cached tarball by SUITE, MIRROR and this file's hash.
set -euo pipefail

suite=${1:?suite, e.g. bookworm}
mirror=${2:?mirror, e.g. http://deb.debian.org/debian}
out=${3:?output tarball}

mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$(dirname "$out")/rootfs.XXXXXX")
cleanup() {
  # debootstrap may leave /proc or /sys mounted in the chroot when it fails half-way.
  local m
  for m in proc sys dev/pts dev; do
    if mountpoint -q "$work/root/$m" 2>/dev/null; then umount -l "$work/root/$m" || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

root=$work/root
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 40 "$work/debootstrap.log" >&2
  echo "rootfs.sh: debootstrap failed (log above)" >&2
  exit 1
}

# Sources as the official image has them: the suite, its updates and its security archive.
rm -f "$root/etc/apt/sources.list"
security=${mirror%/debian}/debian-security
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

# Packages installed later (apt-get install in a Dockerfile) stay slim too.
cat >"$root/etc/dpkg/dpkg.cfg.d/flint-slim" <<'EOF'
# Slim image: no documentation but copyright files, no man pages, no translations.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
cat >"$root/etc/apt/apt.conf.d/flint-slim" <<'EOF'
// Container image: no cached .debs, no translations, no suggested packages kept on autoremove.
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
Apt::AutoRemove::SuggestsImportant "false";
EOF
# No services start when a package is installed in a container build.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"

# Trim what debootstrap left.
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root/usr/share/man/"* "$root/usr/share/groff/"* "$root/usr/share/info/"* \
  "$root/usr/share/lintian/"* "$root/usr/share/linda/"* "$root/usr/share/locale/"* \
  "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin "$root/var/cache/apt/archives/"*.deb \
  "$root/var/cache/debconf/"*-old "$root/var/lib/dpkg/"*-old "$root/var/log/"*.log \
  "$root/var/log/apt/"* "$root/debootstrap"
# Per-container files the runtime provides.
: >"$root/etc/machine-id"
rm -f "$root/etc/hostname" "$root/etc/resolv.conf" "$root/etc/hosts"

tar --numeric-owner --xattrs -C "$root" -czf "$out.part" .
mv "$out.part" "$out"
