# Shared settings and functions of the side-by-side comparison (sourced by run.sh and
# stop.sh; docs/benchmarks.md describes it). Everything lives under $ROOT (default
# /tmp/congthu-compare); every process started is recorded by pid and stopped by pid
# (never by name).

HERE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")   # bench/compare
REPO=$(dirname "$(dirname "$HERE")")                   # the project's root
ROOT=${CMP_ROOT:-/tmp/congthu-compare}
# congthu: $CONGTHU, else the project's venv (`make run` or `make test` makes it).
CONGTHU=${CONGTHU:-$REPO/.venv/bin/congthu}
# Dovecot's load generator, not packaged for Debian: $IMAPTEST, else a build beside the
# project (../shared/bin/imaptest); without one the IMAP loads are skipped (run.sh says so).
IMAPTEST_SRC=${IMAPTEST:-$REPO/../shared/bin/imaptest}
RUNS=${RUNS:-3}
SESSIONS=${SESSIONS:-4}
SMALL_N=${SMALL_N:-2000}; SMALL_SIZE=${SMALL_SIZE:-10240}
LARGE_N=${LARGE_N:-200};  LARGE_SIZE=${LARGE_SIZE:-1048576}
IMAP_CLIENTS=${IMAP_CLIENTS:-20}; IMAP_SECS=${IMAP_SECS:-30}
MBOX_N=${MBOX_N:-100}
WARMUP_N=${WARMUP_N:-100}
QUIET_MAX_BUSY=${QUIET_MAX_BUSY:-0.15}   # share of all CPUs busy before a run starts
QUIET_TIMEOUT=${QUIET_TIMEOUT:-180}      # seconds to wait for that, then run anyway (noted)
DELIVER_TIMEOUT=${DELIVER_TIMEOUT:-900}  # bound of one SMTP run (send + delivery)

DOMAIN=soctrang.gov.vn
PASS='Hq7$wz!Tn4Ke'
SENDER=sender@example.org
# Ports (5xxxx; other testers use 2525/1143/3xxxx/4xxxx).
CT_PORT_BASE=${CT_PORT_BASE:-52000}      # Công Thư: 52525 smtp, 52143 imap, ...
PF_SMTP_PORT=${PF_SMTP_PORT:-53525}      # Postfix smtpd
DC_IMAP_PORT=${DC_IMAP_PORT:-53143}      # Dovecot imap
DNS_PORT=${DNS_PORT:-53053}              # loopback DNS stub (UDP) for Công Thư's SPF/DMARC

SMTP_USERS="warmup small1 small2 small3 large1 large2 large3"
IMAP_USERS="imapw imapa1 imapa2 imapa3 imapb1 imapb2 imapb3"

CT_DATA=$ROOT/congthu
PF_DIR=$ROOT/postfix          # etc/ (main.cf, master.cf), spool/, data/
DC_DIR=$ROOT/dovecot          # dovecot.conf, passwd, run/ (base_dir), state/
MAIL_DIR=$ROOT/mail           # Dovecot maildirs: $MAIL_DIR/<user>/Maildir
PIDS=$ROOT/pids
LOGS=$ROOT/logs
RESULTS=$ROOT/results
BIN=$ROOT/bin

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$LOGS/harness.log" >&2; }
die() { log "FATAL: $*"; exit 1; }

ct_port() {  # name -> Công Thư port
	case $1 in
	smtp) echo $((CT_PORT_BASE + 525));; submission) echo $((CT_PORT_BASE + 587));;
	submissions) echo $((CT_PORT_BASE + 465));; imap) echo $((CT_PORT_BASE + 143));;
	imaps) echo $((CT_PORT_BASE + 993));; pop3) echo $((CT_PORT_BASE + 110));;
	pop3s) echo $((CT_PORT_BASE + 995));; ldap) echo $((CT_PORT_BASE + 389));;
	ldaps) echo $((CT_PORT_BASE + 636));; http) echo $((CT_PORT_BASE + 80));;
	https) echo $((CT_PORT_BASE + 443));;
	esac
}

wait_port() {  # port seconds
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

port_free() { ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

kill_pid() {  # pid [name]: TERM, wait up to 30 s, then KILL
	local pid=$1 i
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	log "pid $pid ($2) did not stop in 30 s: KILL"
	kill -KILL "$pid" 2>/dev/null || true
}

stop_pidfile() {  # file name
	[ -f "$1" ] || return 0
	kill_pid "$(cat "$1")" "$2"
	rm -f "$1"
}

# ---------------------------------------------------------------- packages
install_packages() {
	local missing=""
	[ -x /usr/sbin/postfix ] || missing="$missing postfix"
	[ -x /usr/sbin/smtp-source ] || missing="$missing postfix"
	[ -x /usr/lib/dovecot/imap ] || missing="$missing dovecot-imapd"
	[ -x /usr/lib/dovecot/lmtp ] || missing="$missing dovecot-lmtpd"
	[ -z "$missing" ] && return 0
	log "apt-get install$missing"
	# "No configuration": no system Postfix on port 25 (the private instance is ours).
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		if DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing \
			>>"$LOGS/apt.log" 2>&1; then
			# The system Dovecot that installing starts is switched off again (as `make
			# apt-test` does): only the private instance below runs.
			case $missing in *dovecot*)
				[ -d /run/systemd/system ] && systemctl disable --now dovecot >/dev/null 2>&1 || true;;
			esac
			return 0
		fi
		log "apt-get failed (lock held?), retry in 30 s"; sleep 30
	done
	die "could not install$missing (see $LOGS/apt.log)"
}

# ---------------------------------------------------------------- stop everything
stop_all() {
	[ -d "$ROOT" ] || return 0
	if [ -f "$PIDS/congthu.pid" ]; then stop_pidfile "$PIDS/congthu.pid" congthu; fi
	if [ -f "$PF_DIR/spool/pid/master.pid" ]; then
		local mp; mp=$(tr -d ' ' <"$PF_DIR/spool/pid/master.pid")
		if kill -0 "$mp" 2>/dev/null; then
			/usr/sbin/postfix -c "$PF_DIR/etc" stop >>"$LOGS/postfix-ctl.log" 2>&1 || true
			local i; for ((i = 0; i < 300; i++)); do kill -0 "$mp" 2>/dev/null || break; sleep 0.1; done
			kill_pid "$mp" postfix-master
		fi
	fi
	if [ -f "$DC_DIR/run/master.pid" ]; then
		kill_pid "$(cat "$DC_DIR/run/master.pid")" dovecot-master
	fi
	stop_pidfile "$PIDS/dns.pid" dnsstub
}

# ---------------------------------------------------------------- fresh tree
fresh_tree() {
	# Only a tree this harness made is wiped (CMP_ROOT=/ or a home would not be).
	if [ -e "$ROOT" ] && [ ! -f "$ROOT/.congthu-compare" ] && [ -n "$(ls -A "$ROOT" 2>/dev/null)" ]; then
		echo "$ROOT exists and was not made by bench/compare: choose another CMP_ROOT" >&2; exit 2
	fi
	stop_all
	rm -rf "$ROOT"
	mkdir -p "$ROOT" "$PIDS" "$LOGS" "$RESULTS" "$BIN" "$MAIL_DIR"
	: >"$ROOT/.congthu-compare"
	local p
	for p in $(ct_port smtp) $(ct_port imap) $PF_SMTP_PORT $DC_IMAP_PORT; do
		port_free "$p" || die "port $p is in use by someone else"
	done
}

start_dns() {
	python3 "$HERE/dnsstub.py" 127.0.0.1 "$DNS_PORT" >>"$LOGS/dnsstub.log" 2>&1 &
	echo $! >"$PIDS/dns.pid"
}

# ---------------------------------------------------------------- Công Thư
setup_congthu() {
	log "congthu: init --dev in $CT_DATA"
	"$CONGTHU" --data "$CT_DATA" init --dev >"$LOGS/congthu-init.log" 2>&1 || die "congthu init failed"
	python3 - "$CT_DATA/congthu.toml" "$CT_PORT_BASE" "$DNS_PORT" <<'PY'
import re, sys
path, base, dns = sys.argv[1], int(sys.argv[2]), sys.argv[3]
off = dict(smtp=525, submission=587, submissions=465, imap=143, imaps=993, pop3=110,
           pop3s=995, ldap=389, ldaps=636, http=80, https=443)
out, section = [], None
for line in open(path, encoding="utf-8").read().split("\n"):
    m = re.match(r"^\[(\w+)\]", line)
    if m:
        section = m.group(1)
    key = line.split("=")[0].strip() if "=" in line and not line.lstrip().startswith("#") else None
    if section == "listen" and key in off:
        line = f"{key} = {base + off[key]}"
    elif section == "smtp" and key == "dns_servers":
        line = f'dns_servers = ["127.0.0.1:{dns}"]'
    elif section == "limits" and key == "mailbox_quota_mb":
        line = "mailbox_quota_mb = 100000"
    out.append(line)
open(path, "w", encoding="utf-8").write("\n".join(out))
PY
	local u
	for u in $SMTP_USERS $IMAP_USERS; do
		"$CONGTHU" --data "$CT_DATA" user add "$u@$DOMAIN" --name "Thử Nghiệm $u" \
			>>"$LOGS/congthu-init.log" 2>&1 || die "congthu user add $u failed"
		printf '%s\n' "$PASS" | "$CONGTHU" --data "$CT_DATA" user passwd --password-stdin "$u@$DOMAIN" \
			>>"$LOGS/congthu-init.log" 2>&1 || die "congthu user passwd $u failed"
	done
}

start_congthu() {  # services, e.g. "smtp,imap"
	local only=$1 s
	log "congthu: serve --only $only"
	"$CONGTHU" --data "$CT_DATA" serve --only "$only" >>"$LOGS/congthu-serve.log" 2>&1 &
	echo $! >"$PIDS/congthu.pid"
	for s in ${only//,/ }; do
		wait_port "$(ct_port "$s")" 60 || die "congthu $s did not open port $(ct_port "$s")"
	done
}

stop_congthu() { stop_pidfile "$PIDS/congthu.pid" congthu; }

# ---------------------------------------------------------------- Dovecot
setup_dovecot() {
	mkdir -p "$DC_DIR/run" "$DC_DIR/state"
	chown 65534:65534 "$MAIL_DIR"
	: >"$DC_DIR/passwd"
	local u
	for u in $SMTP_USERS $IMAP_USERS; do
		# user:password:uid:gid:gecos:home  (PLAIN: see README, "caveats")
		echo "$u@$DOMAIN:{PLAIN}$PASS:65534:65534::$MAIL_DIR/$u" >>"$DC_DIR/passwd"
	done
	cat >"$DC_DIR/dovecot.conf" <<EOF
# Private Dovecot for the side-by-side benchmark (Debian 2.3 defaults otherwise).
protocols = imap lmtp
listen = 127.0.0.1
base_dir = $DC_DIR/run
state_dir = $DC_DIR/state
instance_name = cmpdovecot
log_path = $LOGS/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1000
mail_location = maildir:~/Maildir
mail_fsync = optimized
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = username_format=%u $DC_DIR/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $DC_DIR/passwd
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DC_IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
protocol imap {
  mail_max_userip_connections = 100
}
protocol lmtp {
  postmaster_address = postmaster@$DOMAIN
}
EOF
}

start_dovecot() {
	log "dovecot: start ($DC_DIR/dovecot.conf)"
	/usr/sbin/dovecot -c "$DC_DIR/dovecot.conf" || die "dovecot did not start, see $LOGS/dovecot.log"
	wait_port "$DC_IMAP_PORT" 30 || die "dovecot imap port $DC_IMAP_PORT not open"
	local i; for ((i = 0; i < 100; i++)); do [ -S "$DC_DIR/run/lmtp" ] && return 0; sleep 0.1; done
	die "dovecot lmtp socket missing"
}

# ---------------------------------------------------------------- Postfix
setup_postfix() {
	mkdir -p "$PF_DIR/etc" "$PF_DIR/spool" "$PF_DIR/data"
	chown postfix "$PF_DIR/data"; chmod 700 "$PF_DIR/data"
	local u
	: >"$PF_DIR/etc/vmailbox"
	for u in $SMTP_USERS $IMAP_USERS; do echo "$u@$DOMAIN OK" >>"$PF_DIR/etc/vmailbox"; done
	cat >"$PF_DIR/etc/main.cf" <<EOF
# Private Postfix for the side-by-side benchmark: Debian 3.7 defaults, except what
# makes it a private instance on loopback that hands mail to the private Dovecot.
compatibility_level = 3.6
queue_directory = $PF_DIR/spool
data_directory = $PF_DIR/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.cmp.test
mydomain = cmp.test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
local_recipient_maps =
alias_maps =
alias_database =
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps = texthash:$PF_DIR/etc/vmailbox
virtual_transport = lmtp:unix:$DC_DIR/run/lmtp
message_size_limit = 26214400
smtpd_banner = \$myhostname ESMTP
biff = no
maillog_file_prefixes = /var, /dev/stdout, $LOGS
maillog_file = $LOGS/postfix.log
smtp_dns_support_level = disabled
EOF
	cat >"$PF_DIR/etc/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$PF_SMTP_PORT inet n  -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
	/usr/sbin/postfix -c "$PF_DIR/etc" check >>"$LOGS/postfix-ctl.log" 2>&1 || die "postfix check failed, see $LOGS/postfix-ctl.log"
}

start_postfix() {
	log "postfix: start ($PF_DIR/etc)"
	/usr/sbin/postfix -c "$PF_DIR/etc" start >>"$LOGS/postfix-ctl.log" 2>&1 || die "postfix did not start, see $LOGS/postfix-ctl.log"
	wait_port "$PF_SMTP_PORT" 30 || die "postfix smtpd port $PF_SMTP_PORT not open"
}

stop_postfix() {
	[ -f "$PF_DIR/spool/pid/master.pid" ] || return 0
	local mp i; mp=$(tr -d ' ' <"$PF_DIR/spool/pid/master.pid")
	/usr/sbin/postfix -c "$PF_DIR/etc" stop >>"$LOGS/postfix-ctl.log" 2>&1 || true
	for ((i = 0; i < 300; i++)); do kill -0 "$mp" 2>/dev/null || return 0; sleep 0.1; done
	kill_pid "$mp" postfix-master
}
