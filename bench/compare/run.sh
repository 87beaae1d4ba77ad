#!/bin/bash
# Side by side: Công Thư (congthu) against Postfix 3.7 + Dovecot 2.3 on this machine.
#
#   bench/compare.sh [smtp|imap|all]      (as root; default: all; or `make compare`)
#
# Sets both stacks up from scratch under $CMP_ROOT (default /tmp/congthu-compare; wiped
# first, after stopping whatever a previous run left there), runs each workload as
# interleaved pairs congthu, reference, congthu, reference, ... ($RUNS pairs, default 3),
# prints the table (also in $ROOT/results/table.txt) and stops every process it started,
# by pid. Method and caveats: docs/benchmarks.md. Settings: lib.sh (all overridable from
# the environment).
set -euo pipefail
HERE=$(dirname "$(readlink -f "$0")")
source "$HERE/lib.sh"

what=${1:-all}
case $what in smtp | imap | all) ;; *) echo "usage: $0 [smtp|imap|all]" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "run as root (private Postfix/Dovecot instances)" >&2; exit 2; }
[ -x "$CONGTHU" ] || { echo "no congthu at $CONGTHU (set CONGTHU=)" >&2; exit 2; }

fresh_tree
trap 'log "stopping every process this run started"; stop_all' EXIT
trap 'exit 130' INT TERM
install_packages
log "run.sh $what: ROOT=$ROOT RUNS=$RUNS congthu=$CONGTHU ($("$CONGTHU" --help >/dev/null 2>&1 && echo ok))"
log "versions: $(/usr/sbin/postconf -d -h mail_version 2>/dev/null | sed 's/^/postfix /') dovecot $(/usr/sbin/dovecot --version 2>/dev/null | cut -d' ' -f1) $(uname -r) $(nproc) CPUs"

do_imap=0; do_smtp=0
[ "$what" = smtp ] || do_imap=1
[ "$what" = imap ] || do_smtp=1
if [ $do_imap = 1 ]; then
	if [ -x "$IMAPTEST_SRC" ]; then
		cp "$IMAPTEST_SRC" "$BIN/imaptest"   # a private copy: a rebuild cannot swap it mid-series
	else
		log "IMAP loads SKIPPED: no imaptest at $IMAPTEST_SRC (Dovecot's load generator is not" \
			"packaged for Debian; build it from https://github.com/dovecot/imaptest and set IMAPTEST=)"
		do_imap=0
	fi
fi

python3 "$HERE/gen_mbox.py" "$ROOT/bench.mbox" "$MBOX_N"
start_dns
setup_congthu
setup_dovecot
setup_postfix
start_dovecot
RES=$RESULTS/results.jsonl
: >"$RES"

gate() {  # -> "busy load waited state top" ; records uptime
	local u; u=$(uptime)
	echo "$(date +%T) $u" >>"$LOGS/uptime.log"
	python3 "$HERE/quiet.py" "$QUIET_MAX_BUSY" "$QUIET_TIMEOUT" 3
}

snap() { python3 "$HERE/cpuwatch.py" snap "$ROOT/cpu-snap.json"; }
cpu_watch() {  # -> JSON: machine busy during the run, CPU seconds of processes not ours
	local pfm="" dcm=""
	[ -f "$PF_DIR/spool/pid/master.pid" ] && pfm=$(tr -d ' ' <"$PF_DIR/spool/pid/master.pid")
	[ -f "$DC_DIR/run/master.pid" ] && dcm=$(cat "$DC_DIR/run/master.pid")
	python3 "$HERE/cpuwatch.py" diff "$ROOT/cpu-snap.json" $$ $pfm $dcm
}

record() {  # workload system run gate-line result-json watch-json
	python3 - "$@" "$(uptime)" >>"$RES" <<'PY'
import json, sys
w, system, run, gate, result, watch, up = sys.argv[1:8]
busy, load1, waited, state, top = gate.split("\t")
r = json.loads(result)
r.update(workload=w, system=system, run=int(run), busy_pct=int(busy), load1=float(load1),
         waited_s=int(waited), quiet=state, top=top, uptime_after=up.strip())
r.update(json.loads(watch))
print(json.dumps(r, ensure_ascii=False))
PY
	tail -1 "$RES" | python3 -c '
import json,sys; r=json.loads(sys.stdin.read())
print("   -> %s %s #%d: rate %s (busy before %s%%, load %s, %s; during: machine %s%%, others %ss %s)%s" % (r["workload"], r["system"], r["run"], r.get("rate"), r["busy_pct"], r["load1"], r["quiet"], r["run_busy_pct"], r["others_cpu_s"], r["others_top"],
      "" if r["workload"].startswith("smtp") else "  errors %s" % r.get("errors")))' | tee -a "$LOGS/harness.log" >&2
}

check_count() {  # port user expected system
	local got
	got=$(timeout 120 python3 "$HERE/imap_status.py" "$1" "$2@$DOMAIN" "$PASS" 2>>"$LOGS/harness.log" || echo "?")
	if [ "$got" != "$3" ]; then log "CHECK FAILED: $4 $2 INBOX has $got messages, want $3"; return 1; fi
	log "   check: $4 $2 INBOX has $got messages"
}

smtp_phase() {
	start_postfix
	start_congthu smtp,imap
	local ct pf
	ct=$(ct_port smtp); pf=$PF_SMTP_PORT
	log "warm-up (not measured): $WARMUP_N x 10 KB to warmup@ on each"
	python3 "$HERE/smtp_run.py" --port "$ct" --count "$WARMUP_N" --size 10240 --sessions "$SESSIONS" \
		--rcpt "warmup@$DOMAIN" --log "$LOGS/smtp-source.log" --timeout 300 >/dev/null
	python3 "$HERE/smtp_run.py" --port "$pf" --count "$WARMUP_N" --size 10240 --sessions "$SESSIONS" \
		--rcpt "warmup@$DOMAIN" --maildir "$MAIL_DIR/warmup/Maildir" --log "$LOGS/smtp-source.log" --timeout 300 >/dev/null
	local spec w n size prefix i g r
	for spec in "smtp-10k $SMALL_N $SMALL_SIZE small" "smtp-1m $LARGE_N $LARGE_SIZE large"; do
		read -r w n size prefix <<<"$spec"
		for ((i = 1; i <= RUNS; i++)); do
			g=$(gate)
			log "$w run $i congthu: smtp-source -s $SESSIONS -m $n -l $size -> 127.0.0.1:$ct ($prefix$i@)"
			snap
			r=$(python3 "$HERE/smtp_run.py" --port "$ct" --count "$n" --size "$size" --sessions "$SESSIONS" \
				--rcpt "$prefix$i@$DOMAIN" --log "$LOGS/smtp-source.log" --timeout "$DELIVER_TIMEOUT")
			record "$w" congthu "$i" "$g" "$r" "$(cpu_watch)"
			check_count "$(ct_port imap)" "$prefix$i" "$n" congthu || true
			g=$(gate)
			log "$w run $i postfix+dovecot: smtp-source -s $SESSIONS -m $n -l $size -> 127.0.0.1:$pf ($prefix$i@), until $n in Maildir"
			snap
			r=$(python3 "$HERE/smtp_run.py" --port "$pf" --count "$n" --size "$size" --sessions "$SESSIONS" \
				--rcpt "$prefix$i@$DOMAIN" --maildir "$MAIL_DIR/$prefix$i/Maildir" \
				--log "$LOGS/smtp-source.log" --timeout "$DELIVER_TIMEOUT")
			record "$w" postfix+dovecot "$i" "$g" "$r" "$(cpu_watch)"
			check_count "$DC_IMAP_PORT" "$prefix$i" "$n" dovecot || true
		done
	done
	stop_congthu
	stop_postfix
}

imap_phase() {
	start_congthu imap
	local ct dc u
	ct=$(ct_port imap); dc=$DC_IMAP_PORT
	log "warming password caches (one LOGIN per user on each) and a 5 s imaptest warm-up (not measured)"
	for u in $IMAP_USERS; do
		timeout 120 python3 "$HERE/imap_status.py" "$ct" "$u@$DOMAIN" "$PASS" >/dev/null
		timeout 120 python3 "$HERE/imap_status.py" "$dc" "$u@$DOMAIN" "$PASS" >/dev/null
	done
	local common=(mbox="$ROOT/bench.mbox" clients="$IMAP_CLIENTS")
	for port in $ct $dc; do
		(cd "$ROOT" && python3 "$HERE/imap_run.py" "$LOGS/imaptest-warmup.log" 120 5 "$BIN/imaptest" host=127.0.0.1 \
			port="$port" user="imapw@$DOMAIN" pass="$PASS" "${common[@]}" secs=5 >/dev/null)
	done
	local spec w extra prefix i g r
	for spec in "imap-default - imapa" "imap-logout0 logout=0 imapb"; do
		read -r w extra prefix <<<"$spec"
		[ "$extra" = - ] && extra=""
		for ((i = 1; i <= RUNS; i++)); do
			for sys in congthu dovecot; do
				if [ $sys = congthu ]; then port=$ct; else port=$dc; fi
				g=$(gate)
				log "$w run $i $sys: imaptest host=127.0.0.1 port=$port user=$prefix$i@$DOMAIN pass=... mbox=$ROOT/bench.mbox clients=$IMAP_CLIENTS secs=$IMAP_SECS $extra"
				snap
				r=$(cd "$ROOT" && python3 "$HERE/imap_run.py" "$LOGS/imaptest.log" $((IMAP_SECS + 120)) "$IMAP_SECS" \
					"$BIN/imaptest" host=127.0.0.1 port="$port" user="$prefix$i@$DOMAIN" pass="$PASS" \
					"${common[@]}" secs="$IMAP_SECS" $extra)
				record "$w" "$sys" "$i" "$g" "$r" "$(cpu_watch)"
			done
		done
	done
	stop_congthu
}

[ $do_smtp = 1 ] && smtp_phase
[ $do_imap = 1 ] && imap_phase
log "results: $RES"
python3 "$HERE/summarize.py" "$RES" | tee "$RESULTS/table.txt"
