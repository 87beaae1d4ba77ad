"""Why a rule cannot be saved: the article or limit it breaks, in Vietnamese and English
(the webmail shows the Vietnamese part, or the English one with the English switch)."""

from __future__ import annotations


class RuleRefused(Exception):
    """A rule the settings refuse (a foreign free-mail target, a bad address, a date)."""

    def __init__(self, vietnamese: str, english: str) -> None:
        super().__init__(f"{vietnamese} / {english}")
        self.vietnamese = vietnamese
        self.english = english
