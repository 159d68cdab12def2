#!/usr/bin/env bash
# Provide the base image every platform image is built FROM (debian:bookworm-slim).
# Pull it when a registry is reachable; otherwise build it with debootstrap from a
# Debian package mirror, tagged with the same name so the Dockerfiles do not change.
#
# The mirror: DEBIAN_MIRROR when set; else the first one the machine's own apt
# sources use for bookworm (sources.list, then sources.list.d/*.list and deb822
# *.sources in apt's order), so an offline site with its own mirror works unchanged;
# else deb.debian.org. CLOUDOS_APT_DIR replaces /etc/apt (the tests use it).
#
#   make-base-image.sh [IMAGE]          provide IMAGE (default debian:bookworm-slim)
#   make-base-image.sh --print-mirror   print the mirror debootstrap would use, and stop
set -euo pipefail

RELEASE=bookworm
DEFAULT_MIRROR=http://deb.debian.org/debian
APT_DIR=${CLOUDOS_APT_DIR:-/etc/apt}

log() { printf 'base-image: %s\n' "$*" >&2; }

# The first URI of a one-line sources file (`deb [options] URI SUITE COMPONENTS...`)
# whose suite is $RELEASE.
one_line_mirror() {
    awk -v release="$RELEASE" '
        { sub(/#.*/, "") }
        $1 != "deb" { next }
        {
            i = 2
            if ($2 ~ /^\[/) {
                while (i <= NF && $i !~ /\]$/) i++
                i++
            }
            if ($(i + 1) == release && $i ~ /^(https?|file):\/\//) { print $i; exit }
        }
    ' "$1"
}

# The first URI of a deb822 sources file whose stanza has Types: deb, Suites: $RELEASE
# and is not Enabled: no. Field names are case-insensitive; values may continue on
# indented lines.
deb822_mirror() {
    awk -v release="$RELEASE" '
        function flush(   n, uris, j) {
            gsub(/[ \t]+/, " ", types); gsub(/[ \t]+/, " ", suites)
            if (!done && (" " types " ") ~ / deb / && enabled != "no" \
                && (" " suites " ") ~ (" " release " ")) {
                n = split(uri, uris, /[ \t]+/)
                for (j = 1; j <= n; j++)
                    if (uris[j] ~ /^(https?|file):\/\//) { print uris[j]; done = 1; break }
            }
            types = suites = uri = enabled = key = ""
        }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        /^[ \t]/ {
            if (key == "types") types = types " " $0
            else if (key == "suites") suites = suites " " $0
            else if (key == "uris") uri = uri " " $0
            next
        }
        {
            key = tolower($0); sub(/:.*/, "", key)
            value = $0; sub(/^[^:]*:[ \t]*/, "", value)
            if (key == "types") types = value
            else if (key == "suites") suites = value
            else if (key == "uris") uri = value
            else if (key == "enabled") enabled = tolower(value)
        }
        END { flush() }
    ' "$1"
}

# Sets MIRROR and MIRROR_FROM: the override, the machine's apt sources, or the default.
choose_mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then
        MIRROR=$DEBIAN_MIRROR MIRROR_FROM=DEBIAN_MIRROR
        return
    fi
    local file found
    for file in "$APT_DIR/sources.list" "$APT_DIR"/sources.list.d/*; do
        [ -f "$file" ] || continue
        case $file in
            *.list) found=$(one_line_mirror "$file") ;;
            *.sources) found=$(deb822_mirror "$file") ;;
            *) continue ;;
        esac
        if [ -n "$found" ]; then
            MIRROR=$found MIRROR_FROM=$file
            return
        fi
    done
    MIRROR=$DEFAULT_MIRROR MIRROR_FROM="the default (no $RELEASE source in $APT_DIR)"
}

if [ "${1:-}" = --print-mirror ]; then
    choose_mirror
    log "mirror from $MIRROR_FROM"
    printf '%s\n' "$MIRROR"
    exit 0
fi

IMAGE=${1:-debian:bookworm-slim}

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
choose_mirror
rootfs=$(mktemp -d /tmp/cloudos-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
log "building $IMAGE with debootstrap from $MIRROR (from $MIRROR_FROM; about 30 s)"
debootstrap --variant=minbase "$RELEASE" "$rootfs" "$MIRROR" >/dev/null
# Keep images small, as the official slim image does.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' - "$IMAGE" >/dev/null
log "built $IMAGE"
