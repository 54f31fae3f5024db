"""Worker addresses (``[user@]host[:port]``) and worker files.

A worker file lists one address per line; blank lines and lines starting with ``#`` are
skipped. IPv6 addresses go in brackets when a port follows (``[::1]:2222``). Two addresses
naming the same host and port are duplicates (the user does not make a second host), and so
is a malformed line: both are errors naming the line.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SSH_PORT = 22
# Host names, ssh_config aliases and IPv4 addresses; user names as POSIX allows them.
HOST_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\$?")


class WorkerAddressError(ValueError):
    """An address or worker file that cannot be used."""


@dataclass(frozen=True)
class WorkerAddress:
    text: str  # as the user wrote it (and the server stores it)
    host: str  # without brackets
    user: str | None = None
    port: int | None = None

    @property
    def identity(self) -> tuple[str, int]:
        """What makes two addresses the same host."""
        return self.host.lower(), self.port or DEFAULT_SSH_PORT

    @property
    def dir_name(self) -> str:
        """A local directory name for this worker's collected logs."""
        return re.sub(r"[^A-Za-z0-9._@-]", "_", self.text)

    def __str__(self) -> str:
        return self.text


def parse_worker(text: str) -> WorkerAddress:
    """``[user@]host[:port]`` with ``host`` a name, an IPv4 address or ``[IPv6]``."""
    address = text.strip()
    if not address:
        raise WorkerAddressError("empty worker address")
    try:
        return _parse(address)
    except WorkerAddressError as exc:
        raise WorkerAddressError(f"invalid worker address {address!r}: {exc}") from None


def _parse(address: str) -> WorkerAddress:
    if any(char.isspace() for char in address):
        raise WorkerAddressError("it contains whitespace (one address per line)")
    user, at, rest = address.rpartition("@")
    if at:
        if not USER_NAME.fullmatch(user):
            raise WorkerAddressError(f"{user!r} is not a user name")
    else:
        user = ""
    port_text = ""
    if rest.startswith("["):
        host, bracket, after = rest[1:].partition("]")
        if not bracket:
            raise WorkerAddressError("'[' without ']'")
        if after and not after.startswith(":"):
            raise WorkerAddressError(f"unexpected {after!r} after ']'")
        port_text = after[1:] if after else ""
        if after == ":":
            raise WorkerAddressError("':' without a port")
        _check_ipv6(host)
    elif rest.count(":") > 1:
        host = rest
        _check_ipv6(host, hint=" (put IPv6 addresses in brackets to give a port: [::1]:2222)")
    else:
        host, colon, port_text = rest.partition(":")
        if colon and not port_text:
            raise WorkerAddressError("':' without a port")
        if not HOST_NAME.fullmatch(host):
            raise WorkerAddressError(
                "no host" if not host else f"{host!r} is not a host name or address"
            )
    return WorkerAddress(address, host, user or None, _port(port_text) if port_text else None)


def _check_ipv6(host: str, hint: str = "") -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise WorkerAddressError(f"{host!r} is not an IPv6 address{hint}") from None


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise WorkerAddressError(f"port {text!r} is not a number from 1 to 65535")
    return int(text)


def parse_workers(texts: Iterable[str]) -> list[WorkerAddress]:
    """Addresses given on the command line; two naming the same host are an error."""
    workers: dict[tuple[str, int], WorkerAddress] = {}
    for text in texts:
        worker = parse_worker(text)
        first = workers.get(worker.identity)
        if first is not None:
            raise WorkerAddressError(f"duplicate worker {worker.text!r} (same host as {first})")
        workers[worker.identity] = worker
    return list(workers.values())


def check_against_stored(workers: Iterable[WorkerAddress], stored: Iterable[str]) -> None:
    """A new address for a host the workflow already has is an error (the same address
    again is not: adding is idempotent)."""
    known = {}
    for text in stored:
        try:
            known[parse_worker(text).identity] = text
        except WorkerAddressError:
            continue  # stored by another client; `remote run` reports it
    for worker in workers:
        first = known.get(worker.identity)
        if first is not None and first != worker.text:
            raise WorkerAddressError(
                f"worker {worker.text!r} is the same host as stored worker {first!r} "
                f"(remove that one first: torc remote remove-worker {first})"
            )


def parse_worker_file(path: Path) -> list[WorkerAddress]:
    """The workers listed in ``path``; every malformed or duplicate line is reported."""
    text = path.read_text()
    workers: list[WorkerAddress] = []
    lines: dict[tuple[str, int], int] = {}
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            worker = parse_worker(stripped)
        except WorkerAddressError as exc:
            problems.append(f"{path}:{number}: {exc}")
            continue
        first = lines.get(worker.identity)
        if first is not None:
            problems.append(f"{path}:{number}: duplicate worker {worker.text!r} (line {first})")
            continue
        lines[worker.identity] = number
        workers.append(worker)
    if problems:
        raise WorkerAddressError("\n".join(problems))
    if not workers:
        raise WorkerAddressError(f"{path}: no worker addresses in it")
    return workers
