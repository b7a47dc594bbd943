"""The one exception type that carries a user-facing message.

Library code raises `InputError` for bad input; the CLI turns it into a one-line message and its `exit_code`: 2, or
3 for input that may mend itself (a camera that is not up yet: runtime.video.source.CameraUnavailable).
"""


class InputError(ValueError):
    """Bad input from the user (file, field, value). The message names the problem in one line."""
    exit_code = 2
