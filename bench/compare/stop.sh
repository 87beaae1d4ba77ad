#!/bin/bash
# Stop whatever run.sh left running under $CMP_ROOT (default /tmp/congthu-compare), by pid files:
# congthu, the private Postfix (postfix -c DIR stop) and Dovecot (master pid), the DNS stub.
HERE=$(dirname "$(readlink -f "$0")")
source "$HERE/lib.sh"
mkdir -p "$LOGS"
stop_all
echo "stopped (if anything was running) under $ROOT"
