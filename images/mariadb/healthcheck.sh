#!/bin/sh
# Healthy when the server answers on its socket (a ping needs no password).
exec mariadb-admin --socket=/run/mysqld/mysqld.sock --user=UNKNOWN_HEALTHCHECK ping --silent >/dev/null
