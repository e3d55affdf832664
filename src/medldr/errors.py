"""The one error type a user sees: a single line that names the file, column or case, and exit code 2."""


class MedldrError(Exception):
    """Bad input or a refused action; the CLI prints ``str(err)`` on one line and exits with code 2."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


INCOMPLETE_EXIT = 3
"""Exit code of a run that ended with (case, round) pairs unanswered: not bad input (2), but not done either; the
same command asks only those again."""
