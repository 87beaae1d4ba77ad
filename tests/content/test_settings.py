"""The [content] settings: off by default (today's behaviour), checked when loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from congthu import config
from congthu.config.template import render
from tests.conftest import config_refusal


def test_scanning_off_by_default_and_said_so():
    content = config.Settings().content
    assert content.clamd == "" and content.rspamd == "" and content.rspamd_controller == ""
    assert content.unavailable == "tempfail" and content.classified_in_content
    rendered = render()
    section = rendered[rendered.index("[content]"):]
    assert "Both are off while\n# empty, as in the default embedded install" in section
    assert config.parse(rendered, Path("congthu.toml")).content == content


@pytest.mark.parametrize("line, key", [
    ('unavailable = "ignore"', "content.unavailable"),
    ('virus_action = "junk"', "content.virus_action"),
    ('spam_action = "drop"', "content.spam_action"),
    ("timeout = 0", "content.timeout"),
    ('clamd = 3310', "content.clamd"),
])
def test_invalid_values_name_the_key(line, key):
    assert config_refusal(f"[content]\n{line}\n", Path("congthu.toml")).key == key
