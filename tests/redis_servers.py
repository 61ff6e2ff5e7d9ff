"""Real Redis deployments on 127.0.0.1 for end-to-end tests, each started and stopped by
its context manager: a 3-node Redis Cluster, a TLS server with a certificate authority
made on the fly, and a primary + replica watched by a Sentinel. The single server is
``tests.servers.redis_server``."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.servers import free_port, redis_server, server_process


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Until ``condition()`` holds (a server's state changing), at most ``timeout`` s."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        pause.wait(0.05)
    raise AssertionError(f"{what}: not after {timeout} s")


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed (.ci/run installs it)")
    return path


# -- a cluster --------------------------------------------------------------------------------


@contextmanager
def redis_cluster(nodes: int = 3) -> Iterator[list[int]]:
    """``nodes`` primaries (no replicas) sharing the 16384 slots; yields their ports once
    every node says ``cluster_state:ok``."""
    ports = [free_port() for _ in range(nodes)]
    with ExitStack() as stack:
        for port in ports:
            # the cluster bus port is given: the default (port + 10000) may be taken
            stack.enter_context(
                redis_server(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    str(free_port()),
                    "--cluster-node-timeout",
                    "2000",
                    port=port,
                )
            )
        subprocess.run(
            [_binary("redis-cli"), "--cluster", "create"]
            + [f"127.0.0.1:{port}" for port in ports]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        clients = [redis.Redis(port=port) for port in ports]

        def ready() -> bool:
            return all(c.cluster("INFO")["cluster_state"] == "ok" for c in clients)

        wait_for(ready, "cluster_state:ok")
        for client in clients:
            client.close()
        yield ports


# -- TLS --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Authority:
    """A certificate authority and a certificate it signed for 127.0.0.1 / localhost."""

    ca: Path  # the CA's certificate (PEM): what a client trusts
    cert: Path  # the server's certificate
    key: Path  # the server's key


def make_authority(directory: Path, name: str = "ca") -> Authority:
    """A fresh CA and a server certificate it signed, written under ``directory``."""
    openssl = _binary("openssl")
    ca, ca_key = directory / f"{name}.crt", directory / f"{name}.key"
    cert, key = directory / f"{name}-server.crt", directory / f"{name}-server.key"
    csr, extensions = directory / f"{name}-server.csr", directory / f"{name}-san.cnf"
    # what Python 3.13's strict verification (VERIFY_X509_STRICT) asks of a real chain: a
    # CA marked as one, and a leaf naming its issuer's key, its uses and its hosts
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "authorityKeyIdentifier=keyid,issuer\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment,keyAgreement\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
    )
    authority = ["-addext", "basicConstraints=critical,CA:TRUE"]
    authority += ["-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    subject = ["-subj", f"/CN=erralert test {name}"]
    signed = ["-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-extfile", extensions]
    steps = [
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", *subject, *authority],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", csr, *signed, "-out", cert, "-days", "2"],
    ]
    for step in steps:
        subprocess.run([openssl, *map(str, step)], check=True, capture_output=True, timeout=60)
    return Authority(ca=ca, cert=cert, key=key)


@contextmanager
def tls_redis_server(authority: Authority, *, client_certificates: bool = False) -> Iterator[int]:
    """A redis-server speaking TLS only, with ``authority``'s certificate, asking clients
    for one signed by it if ``client_certificates``; yields its port."""
    port = free_port()
    argv = [_binary("redis-server"), "--port", "0", "--tls-port", str(port)]
    argv += ["--tls-cert-file", str(authority.cert), "--tls-key-file", str(authority.key)]
    argv += ["--tls-ca-cert-file", str(authority.ca), "--tls-auth-clients"]
    argv += ["yes" if client_certificates else "no"]
    argv += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with (
        tempfile.TemporaryDirectory() as directory,
        server_process([*argv, "--dir", directory], port),
    ):
        yield port


# -- Sentinel ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watched:
    """A primary and its replica, watched by one Sentinel under ``service``."""

    primary: int  # the ports, as started (a failover swaps their roles)
    replica: int
    sentinel: int
    service: str


@contextmanager
def sentinel_pair(service: str = "erralert-primary") -> Iterator[Watched]:
    """A primary, a replica of it, and a Sentinel (quorum 1, a primary is down after 1 s)
    that knows both once this yields."""
    with ExitStack() as stack:
        primary_url = stack.enter_context(redis_server())
        primary = redis.Redis.from_url(primary_url)
        primary_port = int(primary.connection_pool.connection_kwargs["port"])
        replica_port = free_port()
        stack.enter_context(
            redis_server("--replicaof", "127.0.0.1", str(primary_port), port=replica_port)
        )
        replica = redis.Redis(port=replica_port)
        wait_for(lambda: replica.info("replication")["master_link_status"] == "up", "replica")
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        port = free_port()
        conf = directory / "sentinel.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
            f"sentinel monitor {service} 127.0.0.1 {primary_port} 1\n"
            f"sentinel down-after-milliseconds {service} 1000\n"
            f"sentinel failover-timeout {service} 10000\n"
            f"sentinel parallel-syncs {service} 1\n"
        )
        stack.enter_context(
            server_process([_binary("redis-server"), str(conf), "--sentinel"], port)
        )
        sentinel = redis.Redis(port=port)

        def knows_replica() -> bool:
            # listed, and asked for its INFO since: only then may it be promoted
            replicas = sentinel.sentinel_slaves(service)
            return (
                len(replicas) == 1
                and replicas[0].get("master-link-status") == "ok"
                and int(replicas[0].get("info-refresh", 10**9)) < 5000
            )

        wait_for(knows_replica, "the Sentinel knows the replica")
        for client in (primary, replica, sentinel):
            client.close()
        yield Watched(primary_port, replica_port, port, service)
