#!/bin/bash
# Healthy when the server answers PING with the configured password.
set -eu
if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
    REDISCLI_AUTH=$(cat "$REDIS_PASSWORD_FILE")
else
    REDISCLI_AUTH=${REDIS_PASSWORD:-}
fi
export REDISCLI_AUTH
[ "$(redis-cli -h 127.0.0.1 -p 6379 ping)" = PONG ]
