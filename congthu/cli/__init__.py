"""The ``congthu`` command: ``congthu [--data DIR] COMMAND ...``.

Each package adds its commands in its own ``cli.py`` with ``register(commands)``, found
by ``congthu.plugins.discover`` after the CLI's own ``CORE_MODULES``. A handler is ``async def handler(app, args) ->
int`` and gets an open ``App`` on the data directory (``--data``, else ``$CONGTHU_DATA``,
else ``./data``), unless it was registered with ``needs_app=False``, in which case it is
called as ``handler(args)`` (sync or async).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
from collections.abc import Callable
from typing import Any

from congthu import log
from congthu.cli.errors import CommandError as CommandError  # re-exported: commands raise it
from congthu.cli.errors import report, require_initialised
from congthu.plugins import discover

# The CLI's own commands (init, serve, user...), registered before the packages' ones.
CORE_MODULES = ["congthu.cli.core", "congthu.cli.users"]


class Commands:
    """The command tree that packages register into."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self._root = parser.add_subparsers(dest="command", metavar="COMMAND")
        self._groups: dict[str, Any] = {}

    def group(self, name: str, help: str) -> Any:
        """A command group such as ``user`` (``congthu user add ...``), shared by packages."""
        if name not in self._groups:
            parser = self._root.add_parser(name, help=help)
            self._groups[name] = parser.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)
        return self._groups[name]

    def command(
        self, name: str, help: str, handler: Callable[..., Any], *, group: str | None = None,
        group_help: str = "", needs_app: bool = True,
    ) -> argparse.ArgumentParser:
        parent = self.group(group, group_help or group) if group else self._root
        parser: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help)
        parser.set_defaults(handler=handler, needs_app=needs_app)
        return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="congthu",
        description="Công Thư: hệ thống thư điện tử công vụ / official e-mail system",
    )
    parser.add_argument("--data", metavar="DIR", help="thư mục dữ liệu / data directory "
                        "(default: $CONGTHU_DATA or ./data)")
    parser.add_argument("-v", "--verbose", action="store_true", help="more log output")
    commands = Commands(parser)
    for module in [*map(importlib.import_module, CORE_MODULES), *discover("cli")]:
        module.register(commands)
    return parser


async def _run(args: argparse.Namespace) -> int:
    from congthu.app import App, default_data_dir

    handler = args.handler
    if not args.needs_app:
        result = handler(args)
        if inspect.isawaitable(result):
            result = await result
        return int(result or 0)
    data_dir = default_data_dir(args.data)
    require_initialised(data_dir)
    app = await App.open(data_dir)
    try:
        return int(await handler(app, args) or 0)
    finally:
        await app.close()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    log.configure(args.verbose)  # every command's log lines are JSON, as the server's
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one message, no traceback (cli/errors.py)
        return report(exc, verbose=args.verbose)
