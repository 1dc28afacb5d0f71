class DomainError(Exception):
    """A rule of the domain refused the operation. `code` is stable for API clients."""

    code = "domain_error"
    status = 409

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
