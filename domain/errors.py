"""Rule violations that a caller can act on: each message names what is wrong."""


class DomainRuleError(ValueError):
    """A command or document breaks a business rule; nothing was changed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
