"""An imported person's old address kept as an alias of the new one (issue 19), so mail
still sent to it arrives: after a merger of organisations or of provinces (the 2025
reorganisation), the naming rules of Điều 3 may give a person a new address.

The alias is made through the directory's own function (``Directory.add_alias``: the
address checked against the naming rules and against every address taken). The old
address must be in one of our domains (``system.domain`` or ``system.extra_domains``),
or mail to it would never reach this server. The directory resolves an address of an
extra domain by its local part in the main domain (``Resolver.resolve_recipient``), so
the alias is made on that local part.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from congthu.directory import Directory, DirectoryError
from congthu.store import normalise_address

if TYPE_CHECKING:
    from congthu.app import App


class AliasError(Exception):
    """The old address cannot become an alias; the text says why."""


async def keep_old_address(app: App, old: str, new: str) -> str:
    """Make ``old`` deliver to ``new``'s mailbox; a line saying what was done."""
    old, new = normalise_address(old), normalise_address(new)
    local, at, domain = old.partition("@")
    if not at or not local or not domain:
        raise AliasError(f"{old}: không phải địa chỉ thư / not an address")
    if old == new:
        return f"{old}: địa chỉ không đổi / the address is unchanged"
    if domain not in app.settings.local_domains:
        raise AliasError(
            f"{old}: tên miền {domain} không phải của hệ thống; thêm vào system.extra_domains để thư gửi "
            f"tới đó về máy chủ này / {domain} is not one of our domains: add it to system.extra_domains "
            "so that mail to it reaches this server")
    directory = Directory(app)
    main = directory.full(local)
    if main == new:
        return f"{old}: cùng tên với địa chỉ mới, đã nhận thư / same local part as the new address: delivered"
    for alias in await directory.list_aliases(include_expired=True):
        if alias.address == main and alias.target == new and alias.live:
            return f"{old} → {new}: bí danh đã có / alias exists"
    try:
        await directory.add_alias(local, new, reason=f"địa chỉ cũ / old address {old}")
    except DirectoryError as exc:
        raise AliasError(str(exc)) from None
    return f"{old} → {new}: bí danh đã tạo / alias created"
