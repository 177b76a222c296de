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
    """An invalid policy configuration or command-line setting."""


class BindError(PodsiftError):
    """A bind that cannot be applied; the state is left unchanged."""


class PolicyError(PodsiftError):
    """A policy plugin broke the plugin interface (a result of the wrong type or shape).

    The request fails with this message instead of running on with a corrupted
    verdict; the plugin's author has a bug to fix."""
