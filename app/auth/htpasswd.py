"""htpasswd files: ``user:bcrypt-hash`` lines, ``#`` comments and blank lines kept as they are.

Only bcrypt hashes (``$2a$``, ``$2b$``, ``$2y$``) are accepted: a plaintext, MD5 or SHA-1 line
is an error naming its line, never a way in. Files are rewritten atomically (a temporary file
renamed over the old one) and created readable by their owner only.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt

DEFAULT_COST = 12
MIN_COST, MAX_COST = 4, 31
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
# bcrypt only ever reads the first 72 bytes; a longer password would silently match its prefix.
MAX_PASSWORD_BYTES = 72
HEADER = "# Torc htpasswd file\n# Format: username:bcrypt_hash\n"
_HASH = re.compile(r"^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$")


class HtpasswdError(ValueError):
    """A file, user name or password that cannot be used (one readable line)."""


@dataclass
class HtpasswdFile:
    """The lines of one file, in order; ``users`` maps each user to its hash."""

    path: Path
    lines: list[str] = field(default_factory=list)  # comment and blank lines kept verbatim
    users: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: str | Path) -> HtpasswdFile:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise HtpasswdError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise HtpasswdError(f"{path}: {exc}") from None
        return cls.parse(path, text)

    @classmethod
    def parse(cls, path: Path, text: str) -> HtpasswdFile:
        parsed = cls(path)
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                user, hashed = _parse_line(path, number, stripped)
                if user in parsed.users:
                    raise HtpasswdError(f"{path}:{number}: user {user!r} appears twice")
                parsed.users[user] = hashed
                line = f"{user}:{hashed}"
            parsed.lines.append(line)
        return parsed

    @classmethod
    def read_or_new(cls, path: str | Path) -> HtpasswdFile:
        path = Path(path)
        if not path.exists():
            return cls(path, HEADER.splitlines())
        return cls.read(path)

    def set(self, user: str, hashed: str) -> bool:
        """Add or replace ``user``'s hash; True when the user is new."""
        check_user_name(user)
        line = f"{user}:{hashed}"
        if user in self.users:
            self.lines = [line if _line_user(old) == user else old for old in self.lines]
            self.users[user] = hashed
            return False
        self.lines.append(line)
        self.users[user] = hashed
        return True

    def remove(self, user: str) -> None:
        if user not in self.users:
            raise HtpasswdError(f"user {user!r} is not in {self.path}")
        del self.users[user]
        self.lines = [line for line in self.lines if _line_user(line) != user]

    def write(self) -> None:
        """Replace the file atomically; a new file is created with mode 0600."""
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        mode = self.path.stat().st_mode & 0o777 if self.path.exists() else 0o600
        handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write("".join(f"{line}\n" for line in self.lines))
            os.chmod(temporary, mode)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _parse_line(path: Path, number: int, line: str) -> tuple[str, str]:
    user, separator, hashed = line.partition(":")
    if not separator or not user:
        raise HtpasswdError(f"{path}:{number}: expected 'username:bcrypt_hash'")
    if not hashed.startswith(BCRYPT_PREFIXES) or not _HASH.match(hashed):
        raise HtpasswdError(
            f"{path}:{number}: the hash of user {user!r} is not bcrypt "
            f"(only {', '.join(BCRYPT_PREFIXES)} hashes are accepted)"
        )
    return user, hashed


def _line_user(line: str) -> str | None:
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    return stripped.partition(":")[0]


def check_user_name(user: str) -> None:
    if not user or ":" in user or any(ch.isspace() for ch in user) or user.startswith("#"):
        raise HtpasswdError(
            f"invalid user name {user!r} (no ':', spaces, or leading '#'; not empty)"
        )


def check_cost(cost: int) -> None:
    if not MIN_COST <= cost <= MAX_COST:
        raise HtpasswdError(f"bcrypt cost must be from {MIN_COST} to {MAX_COST}, not {cost}")


def hash_password(password: str, cost: int = DEFAULT_COST) -> str:
    check_cost(cost)
    encoded = password.encode("utf-8")
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise HtpasswdError(
            f"the password is {len(encoded)} bytes long; bcrypt uses at most {MAX_PASSWORD_BYTES}"
        )
    if not encoded:
        raise HtpasswdError("the password is empty")
    return bcrypt.hashpw(encoded, bcrypt.gensalt(cost)).decode("ascii")


def verify_password(password: str, hashed: str) -> bool:
    encoded = password.encode("utf-8")
    if len(encoded) > MAX_PASSWORD_BYTES:
        return False
    try:
        return bcrypt.checkpw(encoded, hashed.encode("ascii"))
    except ValueError:
        return False


def cost_of(hashed: str) -> int:
    match = _HASH.match(hashed)
    return int(match.group(1)) if match else DEFAULT_COST
