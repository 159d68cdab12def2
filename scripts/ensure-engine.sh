#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine: install Debian's docker.io when
# no engine is installed, start dockerd by hand when no init system runs it.
# Idempotent: does nothing when `docker info` already answers.
set -euo pipefail

log() { printf 'ensure-engine: %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        log "no Docker engine here and not root: install docker.io (or Docker CE) and re-run"
        exit 2
    fi
    log "installing the Docker engine from the distribution's packages (docker.io)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        log "starting docker.service"
        systemctl start docker
    else
        log "starting dockerd (no init system here; log in /var/log/dockerd.log)"
        nohup dockerd >/var/log/dockerd.log 2>&1 &
    fi
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
fi

if ! docker info >/dev/null 2>&1; then
    log "the Docker engine did not answer within 60 s; see /var/log/dockerd.log"
    exit 2
fi
log "Docker engine $(docker version --format '{{.Server.Version}}') is up"
