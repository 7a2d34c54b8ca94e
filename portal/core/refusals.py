"""The one error a service raises when it will not do what it is asked: which field is at
fault and why, in words a page shows under that field and a command prints as they are.
"""


class DomainError(Exception):
    """A change refused; `field` names the value at fault (None: the request as a whole)."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field
