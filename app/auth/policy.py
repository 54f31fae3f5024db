"""The server's authentication and access-control settings, checked and logged at start-up."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.auth.authenticator import Authenticator

logger = logging.getLogger("torc.server")


class PolicyError(ValueError):
    """Settings that cannot work together (one line, for the start-up error)."""


@dataclass(frozen=True)
class Policy:
    authenticator: Authenticator | None = None  # None: authentication disabled
    require_auth: bool = False
    enforce_access_control: bool = False
    admin_users: tuple[str, ...] = field(default_factory=tuple)


def check_settings(settings: Mapping[str, Any]) -> None:
    """Refuse combinations that would lock everyone out or silently do nothing."""
    if settings["require_auth"] and not settings["auth_file"]:
        raise PolicyError("--require-auth specified but no --auth-file provided")
    if settings["enforce_access_control"] and not settings["auth_file"]:
        raise PolicyError(
            "--enforce-access-control needs --auth-file (without users every request is refused)"
        )
    if settings["credential_cache_ttl_secs"] < 0:
        raise PolicyError("--credential-cache-ttl-secs must not be negative")


def policy_from_settings(settings: Mapping[str, Any]) -> Policy:
    """Load the htpasswd file and say what is enabled, in the seed's words."""
    check_settings(settings)
    authenticator = None
    if settings["auth_file"]:
        authenticator = Authenticator(settings["auth_file"], settings["credential_cache_ttl_secs"])
        authenticator.load()
        if settings["require_auth"]:
            logger.info("Authentication is REQUIRED for all requests")
        else:
            logger.info(
                "Authentication is OPTIONAL - valid credentials identify the user; "
                "missing or invalid credentials are anonymous"
            )
        ttl = settings["credential_cache_ttl_secs"]
        if ttl:
            logger.info("Credential cache TTL: %g seconds", ttl)
        else:
            logger.info("Credential cache disabled")
    else:
        logger.info("Authentication is DISABLED (no --auth-file)")
    admins = tuple(settings["admin_users"] or ())
    if settings["enforce_access_control"]:
        logger.info(
            "Access control is ENABLED - users can only access their own workflows and "
            "workflows shared via access groups"
        )
    if admins:
        logger.info("Admin users configured: %s", json.dumps(list(admins)))
    return Policy(
        authenticator, settings["require_auth"], settings["enforce_access_control"], admins
    )
