"""Failure-handler rules: which rule a return code matches and what follows.

Shared by the runner (which applies them to its jobs' failures) and the server (which applies
them to orphaned jobs). A rule listing the exit code wins over a catch-all
(``match_all_exit_codes``) whatever their order; among rules of one kind the first wins.
``max_retries`` counts retries after the first attempt (D5, docs/decisions.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    exit_codes: tuple[int, ...] = ()
    match_all_exit_codes: bool = False
    recovery_script: str | None = None
    max_retries: int = 3


def parse_rules(text: str) -> list[Rule]:
    rules = []
    for raw in json.loads(text or "[]"):
        rules.append(
            Rule(
                exit_codes=tuple(int(code) for code in raw.get("exit_codes") or ()),
                match_all_exit_codes=bool(raw.get("match_all_exit_codes")),
                recovery_script=raw.get("recovery_script") or None,
                max_retries=int(raw.get("max_retries", 3)),
            )
        )
    return rules


def matching_rule(rules: list[Rule], return_code: int) -> Rule | None:
    """The first rule naming the code, else the first catch-all, else None."""
    for rule in rules:
        if return_code in rule.exit_codes:
            return rule
    return next((rule for rule in rules if rule.match_all_exit_codes), None)


@dataclass
class Decision:
    action: str  # "retry", "recover" (script, then retry), "fail" or "pending_failed"
    rule: Rule | None = None


def decide(
    rules: list[Rule] | None, return_code: int, attempt_id: int, use_pending_failed: bool
) -> Decision:
    rule = matching_rule(rules or [], return_code)
    if rule is None:
        return Decision("pending_failed" if use_pending_failed else "fail")
    if attempt_id > rule.max_retries:
        return Decision("fail", rule)
    return Decision("recover" if rule.recovery_script else "retry", rule)
