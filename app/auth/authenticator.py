"""The server's credential check: HTTP Basic against an htpasswd file, with a cache.

Verifying a bcrypt hash costs about a quarter of a second at cost 12, so a successful check is
cached for ``cache_ttl`` seconds under a SHA-256 digest of the user name and password: the
cache never holds a password, a wrong password never matches a cached entry, and failures are
never cached. The file is looked at (one ``stat``) on every check and reloaded when it changed,
so adding or removing a user needs no restart; a reload empties the cache, so a changed or
removed password stops working at once. A file that became unreadable or malformed keeps the
users last loaded (and says why in the log) rather than locking everyone out.
D23 (docs/decisions.md) records these choices.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from app.auth.htpasswd import HtpasswdError, HtpasswdFile, cost_of, hash_password, verify_password

logger = logging.getLogger("torc.server.auth")
MAX_CACHED = 10_000


@dataclass(frozen=True)
class Outcome:
    """``user`` when the credentials are valid; ``given`` whether any were sent."""

    user: str | None
    given: bool
    claimed: str | None = None  # the user name a failed attempt claimed, for the log


MISSING = Outcome(None, False)


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class Authenticator:
    def __init__(self, path: str | Path, cache_ttl: float = 60.0) -> None:
        self.path = Path(path)
        self.cache_ttl = cache_ttl
        self._users: dict[str, str] = {}
        self._signature: tuple[int, int, int] | None = None
        self._cache: dict[bytes, tuple[str, float]] = {}
        self._decoy: str | None = None  # hashed when first needed, at the file's cost
        self._lock = threading.Lock()

    @property
    def user_count(self) -> int:
        return len(self._users)

    def load(self) -> None:
        """Read the file at start-up; an unusable file is an ``HtpasswdError``."""
        logger.info("Loading htpasswd file from: %s", self.path)
        self._replace(HtpasswdFile.read(self.path), _signature(self.path))
        logger.info("Loaded %d users from htpasswd file", len(self._users))
        if not self._users:
            logger.warning("The htpasswd file %s has no users yet", self.path)

    def _replace(self, parsed: HtpasswdFile, signature: tuple[int, int, int] | None) -> None:
        with self._lock:
            self._users = dict(parsed.users)
            self._signature = signature
            self._cache.clear()
            self._decoy = None

    def _refresh(self) -> None:
        signature = _signature(self.path)
        if signature == self._signature:
            return
        if signature is None:
            logger.error("htpasswd file %s is gone; keeping the users loaded before", self.path)
            self._signature = None
            return
        try:
            parsed = HtpasswdFile.read(self.path)
        except HtpasswdError as exc:
            logger.error("Not reloading the htpasswd file: %s; keeping the users loaded", exc)
            self._signature = signature  # report once per change, not on every request
            return
        self._replace(parsed, signature)
        logger.info("Reloaded %s: %d users", self.path, len(self._users))

    def authenticate(self, authorization: str | None) -> Outcome:
        """Check an ``Authorization`` header value (None when the request sent none)."""
        if not authorization:
            return MISSING
        credentials = _basic_credentials(authorization)
        if credentials is None:
            logger.warning("Authentication failed: malformed Authorization header")
            return Outcome(None, True)
        user, password = credentials
        self._refresh()
        key = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        if self._cached(key):
            logger.debug("User '%s' authenticated successfully (cached)", user)
            return Outcome(user, True)
        if not self._verify(user, password):
            logger.warning("Authentication failed for user '%s'", user)
            return Outcome(None, True, user)
        self._remember(key, user)
        logger.debug("User '%s' authenticated successfully", user)
        return Outcome(user, True)

    def _cached(self, key: bytes) -> bool:
        entry = self._cache.get(key)
        return entry is not None and entry[1] > time.monotonic()

    def _remember(self, key: bytes, user: str) -> None:
        if self.cache_ttl <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if len(self._cache) >= MAX_CACHED:
                self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
                if len(self._cache) >= MAX_CACHED:
                    self._cache.clear()
            self._cache[key] = (user, now + self.cache_ttl)

    def _verify(self, user: str, password: str) -> bool:
        hashed = self._users.get(user)
        if hashed is None:
            # Spend the same time as for a known user, so timing does not reveal user names.
            verify_password(password, self._decoy_hash())
            return False
        return verify_password(password, hashed)

    def _decoy_hash(self) -> str:
        if self._decoy is None:
            cost = max((cost_of(hashed) for hashed in self._users.values()), default=4)
            self._decoy = hash_password(os.urandom(16).hex(), cost)
        return self._decoy


def _basic_credentials(authorization: str) -> tuple[str, str] | None:
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, separator, password = decoded.partition(":")
    if not separator or not user:
        return None
    return user, password
