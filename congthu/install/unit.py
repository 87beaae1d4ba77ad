"""The systemd unit of a production install: the server runs as its own unprivileged
user and binds the ports below 1024 through ``CAP_NET_BIND_SERVICE`` alone, sees the file
system read-only but for its data directory, and gets SIGHUP to reload its certificate
(systemd.exec(5), systemd.service(5))."""

from __future__ import annotations

from pathlib import Path

UNIT_NAME = "congthu.service"


def systemd_unit(command: Path, data_dir: Path, user: str) -> str:
    return f"""\
# Công Thư: hệ thống thư điện tử công vụ / official e-mail system.
# Written by `congthu quickstart`; `systemctl daemon-reload` after editing.
[Unit]
Description=Cong Thu mail server (SMTP, IMAP, POP3, LDAP, webmail)
Documentation=https://congthu.gov.vn/docs
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={user}
Group={user}
ExecStart={command} --data {data_dir} serve
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=5s
TimeoutStopSec=60s
LimitNOFILE=65536
UMask=0027
Environment=PYTHONUNBUFFERED=1

# Ports 25, 110, 143, 389, 443, 465, 587, 636, 993, 995 without root.
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes

# The file system read-only but for the data directory.
ProtectSystem=strict
ReadWritePaths={data_dir}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
"""


BACKUP_SERVICE = "congthu-backup.service"
BACKUP_TIMER = "congthu-backup.timer"


def backup_units(command: Path, data_dir: Path, user: str, into: Path, keep: int) -> tuple[str, str]:
    """The scheduled backup (``congthu backup --into``): a oneshot service, as hardened as
    the server's, and its daily timer (systemd.timer(5)): at 01:30, spread over 30
    minutes, and run at the next boot when the machine was off at that hour."""
    service = f"""\
# Công Thư: sao lưu hằng ngày / daily backup. Written by `congthu quickstart`.
[Unit]
Description=Cong Thu daily backup (metadata snapshot, new blobs, {keep} kept)
Documentation=https://congthu.gov.vn/docs
After=congthu.service

[Service]
Type=oneshot
User={user}
Group={user}
ExecStart={command} --data {data_dir} backup --into {into} --keep {keep}
Nice=10
IOSchedulingClass=best-effort
IOSchedulingPriority=7
UMask=0077
Environment=PYTHONUNBUFFERED=1
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={data_dir} {into}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
"""
    timer = f"""\
# Công Thư: lịch sao lưu / backup schedule. `systemctl enable --now {BACKUP_TIMER}`.
[Unit]
Description=Cong Thu daily backup

[Timer]
OnCalendar=*-*-* 01:30:00
RandomizedDelaySec=30min
Persistent=true
Unit={BACKUP_SERVICE}

[Install]
WantedBy=timers.target
"""
    return service, timer
