#!/bin/bash
# Initialize the data folder on first start, then run mariadbd as the mysql user.
set -euo pipefail

datadir=/var/lib/mysql

log() { printf 'cloudos-mariadb: %s\n' "$*" >&2; }

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

sql_string() {
    local value=${1//\\/\\\\}
    printf "'%s'" "${value//\'/\\\'}"
}

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$datadir" /run/mysqld
    chown mysql:mysql "$datadir" /run/mysqld
    run_as=(setpriv --reuid=mysql --regid=mysql --init-groups)
else
    run_as=()
fi

if [ ! -d "$datadir/mysql" ]; then
    password=$(secret_env MARIADB_ROOT_PASSWORD)
    if [ -z "$password" ]; then
        log "the data folder is empty: set MARIADB_ROOT_PASSWORD or MARIADB_ROOT_PASSWORD_FILE"
        exit 1
    fi
    log "initializing $datadir"
    "${run_as[@]}" mariadb-install-db --datadir="$datadir" --skip-test-db \
        --auth-root-authentication-method=normal --skip-name-resolve >/dev/null
    quoted=$(sql_string "$password")
    "${run_as[@]}" mariadbd --bootstrap --datadir="$datadir" --skip-networking \
        --log-error= <<SQL
-- Keep only root@localhost (and the system account); install-db also makes
-- password-less root@127.0.0.1, root@::1 and root@<hostname>.
DELETE FROM mysql.global_priv WHERE User <> 'mariadb.sys' AND NOT (User = 'root' AND Host = 'localhost');
FLUSH PRIVILEGES;
ALTER USER 'root'@'localhost' IDENTIFIED BY $quoted;
CREATE USER 'root'@'%' IDENTIFIED BY $quoted;
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
    log "initialized"
fi

exec "${run_as[@]}" mariadbd "$@"
