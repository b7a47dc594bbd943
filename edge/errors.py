"""The one exception type that carries a user-facing message.

Library code raises `InputError` for bad input; the CLI turns it into a one-line message and exit code 2.
"""


class InputError(ValueError):
    """Bad input from the user (file, field, value). The message names the problem in one line."""
