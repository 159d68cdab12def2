#!/bin/bash
# A tiny supervisor: run PHP-FPM and nginx in the foreground, exit when either dies,
# and stop both gracefully (SIGQUIT) on SIGTERM or SIGINT.
set -u

php-fpm8.2 --nodaemonize --fpm-config /etc/php/8.2/fpm/php-fpm.conf &
fpm=$!
# Start nginx once PHP-FPM listens, so the first requests do not get a 502.
for _ in $(seq 1 100); do
    [ -S /run/php/php-fpm.sock ] || ! kill -0 "$fpm" 2>/dev/null && break
    sleep 0.1
done
nginx -g 'daemon off;' &
web=$!

stopping=0
stop() {
    stopping=1
    kill -QUIT "$fpm" "$web" 2>/dev/null
}
trap stop TERM INT QUIT

wait -n "$fpm" "$web"
status=$?
if [ "$stopping" = 0 ]; then
    echo "cloudos-php: a server exited (status $status); stopping the other" >&2
    stop
    [ "$status" = 0 ] && status=1
else
    status=0
fi
wait
exit "$status"
