"""Error types shared by the service, the cache and the policies.

Every error carries a message precise enough to show to a user as is: the
service turns them into HTTP 400 answers or the protocol's `Error` field.
"""


class PodsiftError(Exception):
    """Base of podsift's own errors."""


class InvalidInput(PodsiftError):
    """A request, pod, node or quantity that cannot be understood.

    `field` names where in the object the problem is (a dotted path), so the
    message says what to fix.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class ConfigError(PodsiftError):
    """An invalid policy configuration or command-line setting.

    Always one line: `podsift serve` prints it as its only line on stderr and exits 2,
    so control characters a configuration file carries in a name (a YAML key "\\n"
    is legal) are shown escaped rather than breaking the line."""

    def __init__(self, message: str) -> None:
        if not message.isprintable():
            message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        super().__init__(message)


class BindError(PodsiftError):
    """A bind that cannot be applied; the state is left unchanged."""


class PolicyError(PodsiftError):
    """A policy plugin broke the plugin interface (a result of the wrong type or shape).

    The request fails with this message instead of running on with a corrupted
    verdict; the plugin's author has a bug to fix."""
