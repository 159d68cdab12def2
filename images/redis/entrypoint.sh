#!/bin/bash
# Run redis-server as the redis user with the password required. The configuration goes
# in on stdin, so the password never shows in the process list.
set -euo pipefail

log() { printf 'cloudos-redis: %s\n' "$*" >&2; }

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

password=$(secret_env REDIS_PASSWORD)
if [ -z "$password" ]; then
    log "set REDIS_PASSWORD or REDIS_PASSWORD_FILE"
    exit 1
fi
if [[ $password == *$'\n'* ]]; then
    log "the password must be one line"
    exit 1
fi
# Inside a double-quoted configuration string, \ and " are escaped with a backslash.
quoted=${password//\\/\\\\}
quoted=${quoted//\"/\\\"}

if [ "$(id -u)" = 0 ]; then
    mkdir -p /data
    chown redis:redis /data
    run_as=(setpriv --reuid=redis --regid=redis --init-groups)
else
    run_as=()
fi

exec "${run_as[@]}" redis-server - "$@" <<CONF
bind * -::*
port 6379
protected-mode no
dir /data
appendonly yes
logfile ""
daemonize no
requirepass "$quoted"
CONF
