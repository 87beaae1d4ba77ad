"""Configuration: defaults from the regulation, clear errors for bad files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from congthu import config
from congthu.config.template import render
from tests.conftest import config_refusal


def test_defaults_are_the_regulations_values() -> None:
    s = config.Settings()
    assert s.system.domain == "soctrang.gov.vn"
    assert s.limits.mailbox_quota_mb == 500 and s.limits.attachment_mb == 15
    assert s.passwords.min_length == 8 and s.passwords.max_age_days == 30
    assert s.lifecycle.alias_keep_days == 730
    # A message carrying a 15 MB attachment (base64: x4/3) must fit the message limit.
    assert s.message_max_bytes >= s.attachment_max_bytes * 4 // 3


def test_rendered_template_round_trips_with_comments() -> None:
    text = render()
    assert "# Điều 8.1: 500 MB per mailbox." in text
    assert config.parse(text) == config.Settings()


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("[limits]\nmailbox_quota_mb = 'lots'\n", "limits.mailbox_quota_mb", "integer"),
        ("[limits]\nattachment_mb = -1\n", "limits.attachment_mb", "negative"),
        ("[nonsense]\n", "nonsense", "unknown section"),
        ("[system]\ndomian = 'x.vn'\n", "system.domian", "unknown key"),
        ("[listen]\nimap = 70000\n", "listen.imap", "invalid port"),
        ("[listen]\nimap = 2000\npop3 = 2000\n", "listen", "share a port"),
        ("[passwords]\nmin_length = 6\n", "passwords.min_length", "13.2"),
        ("[system]\nhostname = \n", "-", "invalid TOML"),
        ("[database]\nurl = 'mysql://x'\n", "database.url", "postgresql"),
        ("[passwords]\nreminder_days = [7, 'x']\n", "passwords.reminder_days[1]", "integer"),
    ],
)
def test_invalid_config_names_file_key_and_reason(text: str, key: str, reason: str) -> None:
    refused = config_refusal(text)
    assert refused.key == key
    assert reason in refused.reason
    assert str(refused).startswith("/etc/congthu.toml: [")


def test_corrupt_config_fails_at_start_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / config.CONFIG_FILE).write_bytes(b"[limits]\nmailbox_quota_mb = 5\xff00\n")
    result = subprocess.run([sys.executable, "-m", "congthu", "--data", str(tmp_path), "serve"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "congthu.toml" in result.stderr and "UTF-8" in result.stderr
    assert "Traceback" not in result.stderr


def test_keys_of_earlier_versions_still_load() -> None:
    """A congthu.toml written by an earlier ``congthu init`` (with keys for features that
    were not built) loads; a really unknown key is still refused with its name."""
    text = "[lifecycle]\ninactive_months = 6\ninactive_warning_days = [30, 7]\nrequest_working_days = 3\n"
    assert config.parse(text) == config.Settings()
    with pytest.raises(config.ConfigError, match="lifecycle.inactive_days"):
        config.parse("[lifecycle]\ninactive_days = 6\n")
