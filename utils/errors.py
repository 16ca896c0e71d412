"""One exception type for problems the user can fix (bad path, bad config, corrupt file), and one warning line.

Scripts catch it at the top and print one line instead of a traceback: a traceback tells the
user nothing about which override or file to change.
"""
import contextlib
import sys

from tqdm import tqdm


class UserError(Exception):
    """A problem with the user's inputs or configuration, reported as a single line."""


class WriteError(UserError):
    """An output could not be written (disk full, I/O error, read-only disk): the whole run stops.

    Never a reason to skip one volume and go on, nor to clean up: the message says what is intact.
    """

    def __init__(self, message: str, path: str = "", reason: str = ""):
        super().__init__(message)
        self.path, self.reason = path, reason   # the file that could not be written, and why ('No space left ...')


def warn(message: str) -> None:
    """The one-line `warning:` for a problem that does not stop the run (a volume skipped, a header guessed).

    Written through tqdm so it lands on a line of its own even while a progress bar is drawn.
    """
    tqdm.write(f"warning: {message}", file=sys.stderr)


_raised_in_workers: list = []
_error_hints: list = []   # (text in another library's error message, the one line to print instead)


def raised_in_worker(err: UserError) -> UserError:
    """Note a worker's UserError: tf.data re-raises it as a page-long UnknownError, we still print one line."""
    _raised_in_workers.append(err)
    return err


def hint_for_library_error(marker: str, line: str) -> None:
    """Name the user-fixable cause of an error known only by a library's text (DALI on a corrupt PNG)."""
    _error_hints.append((marker, line))


@contextlib.contextmanager
def exit_on_user_error():
    """Turn a UserError into `error: <message>` on stderr and exit status 2."""
    _raised_in_workers.clear()
    try:
        yield
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:
        hints = [line for marker, line in _error_hints if marker in str(err)]
        if not (_raised_in_workers or hints):
            raise
        print(f"error: {_raised_in_workers[0] if _raised_in_workers else hints[0]}", file=sys.stderr)
        sys.exit(2)
