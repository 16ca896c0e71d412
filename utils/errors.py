"""One exception type for problems the user can fix (bad path, bad config, corrupt file).

Scripts catch it at the top and print one line instead of a traceback: a traceback tells the
user nothing about which override or file to change.
"""
import contextlib
import sys


class UserError(Exception):
    """A problem with the user's inputs or configuration, reported as a single line."""


_raised_in_workers: list = []


def raised_in_worker(err: UserError) -> UserError:
    """Note a UserError raised in a data-loading worker: tf.data re-raises it as a long UnknownError,
    after which `exit_on_user_error` still prints this one line."""
    _raised_in_workers.append(err)
    return err


@contextlib.contextmanager
def exit_on_user_error():
    """Turn a UserError into `error: <message>` on stderr and exit status 2."""
    _raised_in_workers.clear()
    try:
        yield
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except Exception:
        if not _raised_in_workers:
            raise
        print(f"error: {_raised_in_workers[0]}", file=sys.stderr)
        sys.exit(2)
