# Công Thư: two commands on a fresh Debian 12 machine.
#   make run   sets up and starts the whole system on the embedded default (SQLite + blobs)
#   make test  sets up and runs every test (installing with apt what the tests need)

PYTHON ?= python3
VENV   ?= .venv
DATA   ?= data
BIN    := $(VENV)/bin

# Debian packages the tests drive as real peers and clients. Installed without their
# recommendations, so what a test needs from a recommendation is named here:
# libnet-ssleay-perl is swaks's TLS (--tls); libsasl2-modules is the SASL PLAIN of ldapwhoami -Y PLAIN.
APT_TEST_PACKAGES := postgresql curl isync swaks libnet-ssleay-perl fetchmail getmail6 dovecot-imapd \
                     chromium postfix offlineimap3 nodejs rspamd clamav-daemon clamav redis-server \
                     ldap-utils apache2 systemd openssl pebble python3-ldap strace \
                     libsasl2-modules ceph-mon ceph-osd radosgw ceph-common haproxy slapd \
                     thunderbird libnss3-tools
# The tests start their own private instances of these daemons; the system services that
# installing them starts are switched off again (package:service), so `make test` leaves
# no IMAP server, scanner, Redis or web server running on the machine. Only for packages it installed.
TEST_DAEMONS := dovecot-imapd:dovecot rspamd:rspamd clamav-daemon:clamav-daemon \
                clamav-daemon:clamav-freshclam redis-server:redis-server apache2:apache2 haproxy:haproxy \
                slapd:slapd
# Debian packages needed to build and run (gcc and python3-dev for a dependency that
# has no binary wheel for this Python; fonts-liberation2: the serif font of the PDF
# reports where Times New Roman is not installed; poppler-utils: pdftoppm, the webmail's
# previews of PDF attachments as images).
APT_RUN_PACKAGES := python3 python3-venv python3-dev gcc fonts-liberation2 poppler-utils

.PHONY: run test lint typecheck bench compare clean apt-run apt-test clean-room

$(BIN)/.installed: pyproject.toml
	@$(MAKE) --no-print-directory apt-run
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/congthu --data $(DATA) init --dev
	exec $(BIN)/congthu --data $(DATA) serve

# Each test file whole on one worker (--dist loadfile), in the order tests/conftest.py
# gives: the longest files first, so that no long file is left for the end.
test: $(BIN)/.installed apt-test
	$(BIN)/ruff check congthu tests bench tools
	$(BIN)/mypy congthu
	$(BIN)/pytest -q -rfEs -n 2 --dist loadfile --no-loadscope-reorder -p no:cacheprovider --durations=25

lint: $(BIN)/.installed
	$(BIN)/ruff check congthu tests bench tools
	$(BIN)/mypy congthu

bench: $(BIN)/.installed
	for b in bench/*.py; do $(BIN)/python $$b; done

# Công Thư side by side with Postfix → Dovecot on this machine (issue 13; as root, private
# instances under /tmp/congthu-compare; docs/benchmarks.md): make compare [COMPARE=smtp|imap|all]
COMPARE ?= all
compare: $(BIN)/.installed
	bench/compare.sh $(COMPARE)

# Install the Debian packages that are missing (as root, or through sudo); then switch off
# the system services $(2) (package:service) of the packages it installed.
define apt_install
	@missing=""; for p in $(1); do \
	  [ "$$(dpkg-query -W -f='$${db:Status-Status}' $$p 2>/dev/null)" = installed ] || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing || exit 1; \
	  for pair in $(2); do \
	    case " $$missing " in *" $${pair%%:*} "*) \
	      if [ -d /run/systemd/system ]; then $$SUDO systemctl disable --now "$${pair#*:}" >/dev/null 2>&1 || true; fi;; \
	    esac; \
	  done; \
	fi
endef

apt-run:
	$(call apt_install,$(APT_RUN_PACKAGES))

# Postfix is a test peer only: "No configuration" leaves no system Postfix on port 25.
apt-test:
	@SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	echo "postfix postfix/main_mailer_type select No configuration" | $$SUDO debconf-set-selections
	$(call apt_install,$(APT_TEST_PACKAGES),$(TEST_DAEMONS))

# README's `make test` on a fresh Debian 12 root (debootstrap + chroot; needs root).
# CLEAN_ROOM_FLAGS: see `tools/clean-room --help` (--worktree, --run, --rebuild, --keep).
clean-room:
	bash tools/clean-room $(CLEAN_ROOM_FLAGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
