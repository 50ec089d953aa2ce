"""The package's base error: bad input, reported to a user as one line (the CLI prints it, exit code 2).

Every error a user can cause with an argument, a config or a file derives from :class:`ScintnetError`;
anything else reaching the CLI is a bug in scintnet and is reported with a hint to rerun with ``--debug``.
"""

from __future__ import annotations


class ScintnetError(Exception):
    """Bad input (option, config field, file); the message is one line naming what is wrong."""
