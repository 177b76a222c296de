"""Who may call: the client identities allowed past mutual TLS.

With --tls-client-ca any certificate the CA signed completes the handshake. The
verbs and /explain reveal node names, labels and taints, and /bind changes the
cluster, so the operator may name the identities allowed to call them
(--tls-client-allow: a subject CN, a DNS SAN or a URI SAN of the client's
certificate). Every other caller gets 403 with a JSON Error before any verb runs.
Deny by default: every path but the probes and the metrics is guarded, so a path
added later is guarded too. /healthz, /readyz and /metrics stay open to any
client that completed the handshake: the kubelet's probes and a metrics scraper
need no place in the list, and they reveal no node, pod or label.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any

import orjson

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def peer_identities(cert: dict | None) -> tuple[str, ...]:
    """The names a verified peer certificate (ssl.getpeercert()) may be allowed under:
    its subject CNs, then its DNS and URI SANs."""
    if not cert:
        return ()
    names = [value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"]
    names += [value for kind, value in cert.get("subjectAltName", ()) if kind in ("DNS", "URI")]
    return tuple(names)


class ClientAllowList:
    """WSGI middleware: 403 unless the peer certificate names an allowed identity."""

    def __init__(self, app: Callable, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(allowed)
        # the worker reads it off the outermost app: paths never run in its poller
        self.waits_on_io = getattr(app, "waits_on_io", frozenset())
        # the decision per TLS connection (its certificate cannot change), not per request
        self._decided: weakref.WeakKeyDictionary[Any, tuple[bool, str]] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        if environ.get("PATH_INFO", "") in OPEN_PATHS:
            return self.app(environ, start_response)
        sock = environ.get("gunicorn.socket")
        decided = self._decided.get(sock) if sock is not None else None
        if decided is None:
            decided = self._decide(sock)
        allowed, who = decided
        if allowed:
            return self.app(environ, start_response)
        body = orjson.dumps(
            {
                "Error": f"client {who} may not call {environ.get('PATH_INFO', '')}: "
                "it is not in --tls-client-allow"
            }
        )
        start_response(
            "403 Forbidden",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def _decide(self, sock: Any) -> tuple[bool, str]:
        try:
            cert = sock.getpeercert() if sock is not None else None
        except (AttributeError, ValueError):  # not a TLS socket, or not connected
            cert = None
        names = peer_identities(cert)
        allowed = any(name in self.allowed for name in names)
        who = repr(names[0]) if names else "without a certificate"
        decided = (allowed, who)
        if sock is not None:
            try:
                self._decided[sock] = decided
            except TypeError:  # an object that cannot be weakly referenced
                pass
        return decided
