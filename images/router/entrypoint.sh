#!/bin/sh
# Start Caddy with only its admin API listening on $CADDY_ADMIN_SOCKET.
# Runs as root just long enough to make the (bind-mounted) socket folder and the data
# volume Caddy's, then drops to the caddy user. The socket is 0660: root on the host can
# always use it; set ROUTER_ADMIN_GID to let one more host group use it too.
set -eu

socket=${CADDY_ADMIN_SOCKET:-/run/cloudos-router/admin.sock}
socket_dir=$(dirname "$socket")
config=/config/initial.json

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$socket_dir" /data /config
    group=${ROUTER_ADMIN_GID:-caddy}
    chown "caddy:$group" "$socket_dir"
    # setgid: the socket Caddy creates inherits the folder's group.
    chmod 2770 "$socket_dir"
    # The control plane's socket for the router (portals, forward auth), when the
    # control plane made it before this folder was Caddy's: let Caddy's group in.
    if [ -S "$socket_dir/control.sock" ]; then
        chgrp "$group" "$socket_dir/control.sock"
    fi
    chown caddy:caddy /data /config
    rm -f "$socket"
fi

printf '{"admin":{"listen":"unix/%s"}}\n' "$socket" >"$config"
umask 0007

if [ "$(id -u)" = 0 ]; then
    exec setpriv --reuid=caddy --regid=caddy --init-groups \
        caddy run --config "$config" "$@"
fi
exec caddy run --config "$config" "$@"
