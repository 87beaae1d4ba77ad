"""``congthu`` commands run in one child process for many calls (``Cli``).

A new interpreter per command costs a second and a half of imports (Python, SQLAlchemy,
the package) before the command itself; a test module running dozens of commands pays
that once with ``Cli``. The child runs the package's ``__main__`` through runpy as
``python -m congthu`` does, for each line of JSON it reads, with its own argv, stdin,
stdout and stderr, and gives back its exit code: an exception escaping the command is
printed as the interpreter would print it (the traceback on stderr, exit code 1), so a
test that looks for a traceback still sees it. Each call opens its own App, as a process
would. ``same_as_a_process`` checks that a command gives through the runner exactly what
it gives as its own process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

RUNNER = """
import contextlib, io, json, runpy, sys, traceback
answers = sys.stdout
for line in sys.stdin:
    argv, stdin = json.loads(line)
    out, err, code = io.StringIO(), io.StringIO(), 0
    sys.argv = ["congthu", *argv]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        saved, sys.stdin = sys.stdin, io.StringIO(stdin)
        try:
            runpy.run_module("congthu", run_name="__main__", alter_sys=True)
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
            if isinstance(exit.code, str):
                print(exit.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdin = saved
    answers.write(json.dumps([code, out.getvalue(), err.getvalue()]) + "\\n")
    answers.flush()
"""


class Cli:
    """``congthu`` commands run in one child process (``RUNNER``), started in ``cwd``."""

    def __init__(self, cwd: Path | None = None) -> None:
        self.cwd = cwd or Path.cwd()
        self.env = {**os.environ, "PYTHONPATH": str(self.cwd)}
        self.proc = subprocess.Popen([sys.executable, "-c", RUNNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=self.env, cwd=self.cwd)

    def __call__(self, data: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return self.run("--data", str(data), *args, stdin=stdin)

    def run(self, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([argv, stdin]) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        assert answer, f"the command runner ended (exit {self.proc.wait(10)})"
        code, out, err = json.loads(answer)
        return subprocess.CompletedProcess([sys.executable, "-m", "congthu", *argv], code, out, err)

    def alone(self, *argv: str, stdin: str = "", command: list[str] | None = None) -> subprocess.CompletedProcess[str]:
        """The same command as a process of its own: ``command`` (``python -m congthu``
        unless given, e.g. the installed ``congthu`` script)."""
        return subprocess.run([*(command or [sys.executable, "-m", "congthu"]), *argv], input=stdin,
                              capture_output=True, text=True, timeout=120, env=self.env, cwd=self.cwd)

    def same_as_a_process(self, *argv: str, stdin: str = "",
                          command: list[str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the command both ways (``alone``'s ``command``); fail unless exit code,
        stdout and stderr are the same."""
        ran, alone = self.run(*argv, stdin=stdin), self.alone(*argv, stdin=stdin, command=command)
        assert (ran.returncode, ran.stdout, ran.stderr) == (alone.returncode, alone.stdout, alone.stderr), argv
        return ran

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)
