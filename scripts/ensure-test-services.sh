#!/usr/bin/env bash
# What the test suite needs besides the engine: a single-node swarm, the base image,
# and a PostgreSQL server with a test database. Idempotent.
set -euo pipefail

log() { printf 'test-services: %s\n' "$*" >&2; }
here=$(cd "$(dirname "$0")" && pwd)

state=$(docker info --format '{{.Swarm.LocalNodeState}}')
if [ "$state" = inactive ]; then
    log "initializing a single-node swarm on 127.0.0.1"
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null
fi

bash "$here/make-base-image.sh"

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing PostgreSQL from the distribution's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
fi
cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
if [ -z "$cluster" ]; then
    log "creating a PostgreSQL cluster"
    pg_createcluster "$(ls /usr/lib/postgresql | sort -n | tail -1)" main >/dev/null
    cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
fi
# shellcheck disable=SC2086
if ! pg_lsclusters --no-header | awk 'NR==1 {print $4}' | grep -q online; then
    log "starting PostgreSQL $cluster"
    pg_ctlcluster $cluster start
fi
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='cloudos_test'\"" | grep -q 1 ||
    su postgres -c "psql -qc \"CREATE ROLE cloudos_test LOGIN CREATEDB PASSWORD 'cloudos_test'\""
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='cloudos_test'\"" | grep -q 1 ||
    su postgres -c "createdb -O cloudos_test cloudos_test"
if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk (load tests through the router)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
if ! [ -x /usr/bin/chromium ]; then
    log "installing Chromium (the web interface's browser tests; Playwright drives it)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
fi
log "ready"
