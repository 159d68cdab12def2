#!/usr/bin/env bash
# Provide the base image every platform image is built FROM (debian:bookworm-slim).
# Pull it when a registry is reachable; otherwise build it with debootstrap from
# Debian's package mirror, tagged with the same name so the Dockerfiles do not change.
set -euo pipefail

IMAGE=${1:-debian:bookworm-slim}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

log() { printf 'base-image: %s\n' "$*" >&2; }

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    exit 0
fi
if timeout 60 docker pull -q "$IMAGE" >/dev/null 2>&1; then
    log "pulled $IMAGE"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    log "cannot pull $IMAGE and building it with debootstrap needs root"
    exit 2
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
rootfs=$(mktemp -d /tmp/cloudos-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
log "building $IMAGE with debootstrap from $MIRROR (about 30 s)"
debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >/dev/null
# Keep images small, as the official slim image does.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' - "$IMAGE" >/dev/null
log "built $IMAGE"
