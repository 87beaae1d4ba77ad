"""``Directory``: the directory of one App, joined from one class per concern (see the
package docstring)."""

from __future__ import annotations

from congthu.directory.aliases import Aliases
from congthu.directory.lifecycle import OrgLifecycle
from congthu.directory.people import People
from congthu.directory.resolve import Resolver
from congthu.directory.search import Search


class Directory(OrgLifecycle, People, Aliases, Search, Resolver):
    """The directory of one App."""
