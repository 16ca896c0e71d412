"""One exception type for problems the user can fix (bad path, bad config, corrupt file).

Scripts catch it at the top and print one line instead of a traceback: a traceback tells the
user nothing about which override or file to change.
"""
import contextlib
import sys


class UserError(Exception):
    """A problem with the user's inputs or configuration, reported as a single line."""


@contextlib.contextmanager
def exit_on_user_error():
    """Turn a UserError into `error: <message>` on stderr and exit status 2."""
    try:
        yield
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
