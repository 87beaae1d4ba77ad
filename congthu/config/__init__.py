"""Configuration: one TOML file in the data directory.

The settings, their validation and loading live in ``settings.py``; the commented file
that ``congthu init`` writes is made by ``template.py``.
"""

from congthu.config.settings import (
    CONFIG_FILE,
    ConfigError,
    DatabaseSettings,
    DirectorySettings,
    IMAPSettings,
    LifecycleSettings,
    LimitSettings,
    ListenSettings,
    LoginSettings,
    PasswordSettings,
    PolicySettings,
    POP3Settings,
    Settings,
    SMTPSettings,
    SystemSettings,
    TLSSettings,
    load,
    parse,
)

__all__ = [
    "CONFIG_FILE",
    "ConfigError",
    "SystemSettings",
    "DatabaseSettings",
    "ListenSettings",
    "TLSSettings",
    "LimitSettings",
    "PasswordSettings",
    "LoginSettings",
    "LifecycleSettings",
    "SMTPSettings",
    "IMAPSettings",
    "POP3Settings",
    "PolicySettings",
    "DirectorySettings",
    "Settings",
    "load",
    "parse",
]
