#!/usr/bin/env bash
# Python 3.11+ with venv, from the distribution's packages when missing.
set -euo pipefail
if python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "ensure-python: need Python >= 3.11 with venv (apt-get install python3 python3-venv)" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3 python3-venv >/dev/null
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "ensure-python: this distribution's python3 is older than 3.11" >&2
    exit 2
}
