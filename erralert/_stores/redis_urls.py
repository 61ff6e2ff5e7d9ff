"""The Redis store's URLs, read into a ``Target``: which servers, which form (one server,
Sentinel, Cluster), TLS or not, and the connection options of the query string — each
checked when the store is configured, so that a typo is a ``ConfigError`` naming it, not an
outage at the first alert. Passwords never appear in an error or a log line
(``mask_url_password``).

Forms (``valkey`` may stand for ``redis`` in every scheme: Valkey speaks the protocol):

* ``redis://[[user]:password@]host[:6379][/db]`` — ``rediss://`` for TLS;
* ``redis+sentinel://[[user]:password@]host[:26379][,host2[:26379]]/service_name[/db]`` —
  the password is the primary's, the Sentinels' is ``?sentinel_password=``;
  ``rediss+sentinel://`` for TLS to the Sentinels and the primary;
* ``redis+cluster://[[user]:password@]host[:6379][,host2[:6379]]`` — any nodes of the
  cluster (the others are found); ``rediss+cluster://`` for TLS.

erralert's own options (``namespace``, ``retention``, ``timeout``) are read by
``RedisStore.from_url``; the others are here (``OPTIONS``)."""

from __future__ import annotations

import inspect
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from erralert._core.errors import ConfigError

__all__ = ["OPTIONS", "SCHEMES", "Target", "mask_url_password", "parse", "store_options"]

# scheme → (form, TLS)
SCHEMES: dict[str, tuple[str, bool]] = {}
for _family in ("redis", "valkey"):
    for _form, _suffix in (("redis", ""), ("sentinel", "+sentinel"), ("cluster", "+cluster")):
        SCHEMES[_family + _suffix] = (_form, False)
        SCHEMES[_family + "s" + _suffix] = (_form, True)

_DEFAULT_PORT = {"redis": 6379, "sentinel": 26379, "cluster": 6379}
# query options whose values are secrets: masked like the URL's password
_SECRET_OPTIONS = frozenset({"password", "ssl_password", "sentinel_password"})
_CERT_REQS = ("none", "optional", "required")
_TLS_VERSIONS = ("TLSv1_2", "TLSv1_3")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _count(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _seconds(value: str) -> float:
    number = float(value)
    if not (math.isfinite(number) and number >= 0):
        raise ValueError("must be zero or more seconds")
    return number


def _flag(value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError("must be true or false")


def _text(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


def _file(value: str) -> str:
    if not os.path.isfile(value):
        raise ValueError(f"no such file: {value!r}")
    return value


def _directory(value: str) -> str:
    if not os.path.isdir(value):
        raise ValueError(f"no such directory: {value!r}")
    return value


def _one_of(*choices: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return check


@dataclass(frozen=True, slots=True)
class _Option:
    read: Callable[[str], Any]
    forms: frozenset[str] = frozenset({"redis", "sentinel", "cluster"})
    tls: bool = False  # only with a TLS scheme (rediss://, rediss+sentinel:// …)


# the connection options a store URL takes, passed on to redis-py under the same name
OPTIONS: dict[str, _Option] = {
    "max_connections": _Option(_count),
    "client_name": _Option(_text),
    "health_check_interval": _Option(_seconds),
    "socket_keepalive": _Option(_flag),
    "ssl_ca_certs": _Option(_file, tls=True),
    "ssl_ca_path": _Option(_directory, tls=True),
    "ssl_certfile": _Option(_file, tls=True),
    "ssl_keyfile": _Option(_file, tls=True),
    "ssl_password": _Option(_text, tls=True),
    "ssl_cert_reqs": _Option(_one_of(*_CERT_REQS), tls=True),
    "ssl_check_hostname": _Option(_flag, tls=True),
    "ssl_min_version": _Option(_one_of(*_TLS_VERSIONS), tls=True),
    "ssl_ciphers": _Option(_text, tls=True),
    "sentinel_username": _Option(_text, forms=frozenset({"sentinel"})),
    "sentinel_password": _Option(_text, forms=frozenset({"sentinel"})),
}


@dataclass(frozen=True, slots=True)
class Target:
    """Where a store URL points, and how to connect."""

    form: str  # "redis" (one server), "sentinel" or "cluster"
    tls: bool
    hosts: tuple[tuple[str, int], ...]  # the server; the Sentinels; the cluster's nodes
    username: str | None
    password: str | None
    db: int
    service: str | None  # the Sentinel service name (its primary)
    options: Mapping[str, Any] = field(default_factory=dict)  # of OPTIONS, read
    masked: str = ""  # the URL, its secrets masked


def mask_url_password(url: str) -> str:
    """``url`` with its password and secret options (``ssl_password`` …) replaced by
    ``***``, for errors and logs."""
    try:
        parts = urlsplit(url)
        userinfo, at, hostinfo = parts.netloc.rpartition("@")
        if at and ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            parts = parts._replace(netloc=f"{user}:***@{hostinfo}")
        if parts.query:
            query = re.sub(
                r"(^|&)(" + "|".join(sorted(_SECRET_OPTIONS)) + r")=[^&]*",
                r"\1\2=***",
                parts.query,
            )
            parts = parts._replace(query=query)
        return urlunsplit(parts)
    except ValueError:
        return "<unparsable redis URL>"


def parse(url: str) -> Target:
    """Read a store URL (see the module's docstring); a ``ConfigError`` naming the problem
    when it cannot be used."""
    masked = mask_url_password(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ConfigError(f"redis store: malformed URL {masked!r}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigError(
            f"not a redis store URL: {masked!r} (expected redis://host:6379/0, "
            f"redis+sentinel://host:26379/service or redis+cluster://host:6379)"
        )
    form, tls = SCHEMES[scheme]
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    username, password = _credentials(userinfo)
    hosts = _hosts(hostinfo, _DEFAULT_PORT[form], masked)
    if form == "redis" and len(hosts) > 1:
        raise ConfigError(
            f"redis store: {scheme}:// names one server, got {len(hosts)} in {masked!r} "
            f"(several Sentinels: {'rediss' if tls else 'redis'}+sentinel://, "
            f"a cluster's nodes: {'rediss' if tls else 'redis'}+cluster://)"
        )
    service, db = _path(parts.path, form, masked)
    return Target(
        form=form,
        tls=tls,
        hosts=hosts,
        username=username,
        password=password,
        db=db,
        service=service,
        options=_options(parts.query, form, tls, masked),
        masked=masked,
    )


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, colon, password = userinfo.partition(":")
    return (unquote(user) or None), (unquote(password) if colon else None)


def _hosts(hostinfo: str, default_port: int, masked: str) -> tuple[tuple[str, int], ...]:
    hosts = []
    for item in hostinfo.split(","):
        if not item:
            raise ConfigError(f"redis store URL needs a host: {masked!r}")
        if item.startswith("["):  # an IPv6 address: [::1]:6379
            host, bracket, rest = item[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise ConfigError(f"redis store: malformed URL {masked!r}")
            port_text = rest[1:]
        else:
            host, _, port_text = item.partition(":")
        if not host:
            raise ConfigError(f"redis store URL needs a host: {masked!r}")
        try:
            port = int(port_text) if port_text else default_port
        except ValueError:
            raise ConfigError(f"redis store: malformed URL {masked!r} (port)") from None
        if not 0 < port < 65536:
            raise ConfigError(f"redis store: malformed URL {masked!r} (port {port})")
        hosts.append((unquote(host), port))
    return tuple(hosts)


def _path(path: str, form: str, masked: str) -> tuple[str | None, int]:
    """The Sentinel service name (None for the other forms) and the database number."""
    segments = [unquote(s) for s in path.strip("/").split("/")] if path.strip("/") else []
    service = None
    if form == "sentinel":
        if not segments:
            raise ConfigError(
                f"redis store: a Sentinel URL names its service: {masked!r} "
                f"(redis+sentinel://host:26379/mymaster[/db])"
            )
        service = segments.pop(0)
    if len(segments) > 1:
        raise ConfigError(f"redis store: malformed URL {masked!r} (path)")
    db_text = segments[0] if segments else "0"
    if not db_text.isdigit():
        raise ConfigError(f"redis store: database must be a number, got {db_text!r} in {masked!r}")
    db = int(db_text)
    if form == "cluster" and db != 0:
        raise ConfigError(f"redis store: a Redis Cluster has database 0 only: {masked!r}")
    return service, db


def _options(query: str, form: str, tls: bool, masked: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    supported = _redis_tls_parameters()
    for name, value in parse_qsl(query, keep_blank_values=True):
        option = OPTIONS.get(name)
        if option is None:
            raise ConfigError(f"redis store: unknown option {name!r} in {masked!r}")
        if form not in option.forms:
            raise ConfigError(
                f"redis store: option {name!r} is for {', '.join(sorted(option.forms))} "
                f"URLs, not {masked!r}"
            )
        if option.tls and not tls:
            raise ConfigError(f"redis store: option {name!r} needs TLS (rediss://…), in {masked!r}")
        if option.tls and supported is not None and name not in supported:
            raise ConfigError(
                f"redis store: option {name!r} needs a newer redis package "
                f"(pip install -U redis), in {masked!r}"
            )
        try:
            out[name] = option.read(value)
        except ValueError as exc:
            shown = "***" if name in _SECRET_OPTIONS else repr(value)
            raise ConfigError(f"redis store: option {name}={shown} {exc} (in {masked!r})") from None
    return out


def _redis_tls_parameters() -> frozenset[str] | None:
    """The TLS options the installed redis-py takes (None: unknown, or not installed)."""
    try:
        from redis.connection import SSLConnection
    except ImportError:  # pragma: no cover - exercised only without the extra installed
        return None
    try:
        return frozenset(inspect.signature(SSLConnection.__init__).parameters)
    except (TypeError, ValueError):  # pragma: no cover - a compiled build: trust it
        return None


def store_options(url: str) -> tuple[str, dict[str, Any]]:
    """``url`` without erralert's own options — ``namespace``, ``retention``, ``timeout``,
    ``clock`` (the ``RedisStore`` arguments they become) — and those options; the others
    are left in the URL, as written, for ``parse``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ConfigError(f"redis store: malformed URL {mask_url_password(url)!r}") from None
    options: dict[str, Any] = {}
    connection: list[str] = []
    for item in filter(None, parts.query.split("&")):
        [(name, value)] = parse_qsl(item, keep_blank_values=True) or [(item, "")]
        if name == "namespace":
            options[name] = value
        elif name == "clock":
            if value not in ("store", "local"):
                raise ConfigError(f"redis store: clock must be store or local, got {value!r}")
            options[name] = value
        elif name in ("retention", "timeout"):
            try:
                options[name] = float(value)
            except ValueError:
                raise ConfigError(
                    f"redis store: {name} must be a number of seconds, got {value!r}"
                ) from None
        else:
            connection.append(item)
    return urlunsplit(parts._replace(query="&".join(connection))), options
