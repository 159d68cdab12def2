#!/bin/bash
# Run initdb on first start, then postgres as the postgres user, listening on all
# addresses with scram-sha-256 for network clients (the local socket trusts local users).
set -euo pipefail

PGDATA=${PGDATA:-/var/lib/postgresql/data}

log() { printf 'cloudos-postgresql: %s\n' "$*" >&2; }

# VAR or VAR_FILE (Docker secrets are files), never both.
secret_env() {
    local name=$1 file_name="${1}_FILE"
    if [ -n "${!name:-}" ] && [ -n "${!file_name:-}" ]; then
        log "set $name or $file_name, not both"; exit 1
    fi
    if [ -n "${!file_name:-}" ]; then
        if [ ! -r "${!file_name}" ]; then log "$file_name: cannot read ${!file_name}"; exit 1; fi
        printf '%s' "$(cat "${!file_name}")"
    else
        printf '%s' "${!name:-}"
    fi
}

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /run/postgresql
    chown postgres:postgres "$PGDATA" /run/postgresql
    chmod 0700 "$PGDATA"
    run_as=(setpriv --reuid=postgres --regid=postgres --init-groups)
else
    run_as=()
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    password=$(secret_env POSTGRES_PASSWORD)
    if [ -z "$password" ]; then
        log "the data folder is empty: set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE"
        exit 1
    fi
    log "initializing $PGDATA"
    pwfile=$(mktemp)
    printf '%s\n' "$password" >"$pwfile"
    chmod 0644 "$pwfile"
    "${run_as[@]}" initdb --pgdata="$PGDATA" --username=postgres --pwfile="$pwfile" \
        --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    printf '\n# Cloud OS: any network client, with a password.\nhost all all all scram-sha-256\n' \
        >>"$PGDATA/pg_hba.conf"
    log "initialized"
fi

exec "${run_as[@]}" postgres -D "$PGDATA" -c listen_addresses='*' -c port=5432 \
    -c unix_socket_directories=/run/postgresql "$@"
