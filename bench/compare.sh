#!/bin/bash
# Công Thư side by side with Postfix → Dovecot LMTP and Dovecot IMAP (issue 13): sets up
# private instances of both stacks from Debian's packages under $CMP_ROOT (default
# /tmp/congthu-compare), runs the same SMTP and IMAP loads against each in alternating
# runs and prints min / median / max and the ratio of medians. As root.
#
#   bench/compare.sh [smtp|imap|all]     (make compare)
#   bench/compare.sh stop                (stop what a run killed hard left behind)
#
# Settings from the environment (RUNS, SMALL_N, LARGE_N, IMAP_SECS, CONGTHU, IMAPTEST,
# ...): bench/compare/lib.sh. What it measures and the caveats: docs/benchmarks.md.
set -euo pipefail
HERE=$(dirname "$(readlink -f "$0")")
if [ "${1:-}" = stop ]; then
	exec "$HERE/compare/stop.sh"
fi
exec "$HERE/compare/run.sh" "$@"
