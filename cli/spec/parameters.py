"""Parameter values, their combinations, and ``{name}`` / ``{name:spec}`` templates.

Values are ints, floats or strings. Float ranges are computed with :mod:`decimal` so that
``"0.1:1.0:0.1"`` gives exactly 0.1, 0.2, ..., 1.0. A plain ``{x}`` renders ints with ``str``
and floats with their shortest round-trip form (``0.1``, ``1.0``), never in exponent notation;
``{x:spec}`` applies Python's ``format(value, spec)``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

Value = int | float | str

# Float ranges are made as lists: past this many values, "0:1e9:1e-9" is a typo, not a sweep.
# (Integer ranges stay ranges; how many jobs a spec may expand to is limited by the client
# setting max_jobs, counted before expansion.)
MAX_VALUES = 10_000_000
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
# Only digits, signs, dots, exponents and colons: such a value must be a valid range.
_RANGE_LIKE = re.compile(r"^[\d\s.eE+\-]*:[\d\s.eE+\-:]*$")
# A placeholder is {identifier} or {identifier:spec}; "${...}" belongs to files/user data
# references and shell variables, so a "{" right after "$" never starts one.
PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]*))?\}")


@dataclass(frozen=True)
class Parameter:
    name: str
    # A tuple, or a range for integer ranges: "1:1000000000" costs nothing until rendered.
    values: Sequence[Value]


def parse_parameter(name: str, raw: Any) -> Parameter:
    """Values of one parameter; raises ValueError with a message naming the parameter."""
    try:
        values = _parse_values(raw)
    except ValueError as exc:
        raise ValueError(f"parameter '{name}': {exc}") from None
    return Parameter(name, values if isinstance(values, range) else tuple(values))


def _parse_values(raw: Any) -> Sequence[Value]:
    if isinstance(raw, bool) or raw is None:
        raise ValueError(f"expected a range, list or single value, got {raw!r}")
    if isinstance(raw, int | float):
        return [raw]
    if isinstance(raw, list):
        return [_native_item(item) for item in raw]
    if not isinstance(raw, str):
        raise ValueError('expected a string such as "1:10" or "[a, b]"')
    return _parse_text(raw.strip())


def _native_item(item: Any) -> Value:
    if isinstance(item, bool) or not isinstance(item, int | float | str):
        raise ValueError(f"list items must be numbers or strings, got {item!r}")
    return item


def _parse_text(text: str) -> Sequence[Value]:
    if text.startswith("[") or text.endswith("]"):
        if not (text.startswith("[") and text.endswith("]")):
            raise ValueError(f"unbalanced brackets in list {text!r}")
        return _parse_list(text[1:-1])
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()  # "{1:5}" is tolerated
    if _RANGE_LIKE.match(text):
        return _parse_range(text)
    return [_scalar(text)]


def _parse_list(inner: str) -> list[Value]:
    if not inner.strip():
        return []
    return [_scalar(item.strip()) for item in _split_items(inner)]


def _split_items(inner: str) -> list[str]:
    """Split on commas that are not inside single or double quotes."""
    items: list[str] = []
    current: list[str] = []
    quote = ""
    for char in inner:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ",":
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    if quote:
        raise ValueError(f"unterminated quote in list [{inner}]")
    items.append("".join(current))
    if any(not item.strip() for item in items):
        raise ValueError(f"empty item in list [{inner}]")
    return items


def _scalar(text: str) -> Value:
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _parse_range(text: str) -> Sequence[Value]:
    parts = [part.strip() for part in text.split(":")]
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"invalid range {text!r}: expected start:end or start:end:step")
    if all(_INT.match(part) for part in parts):
        return _int_range(*(int(part) for part in parts))
    try:
        numbers = [Decimal(part) for part in parts]
    except InvalidOperation:
        raise ValueError(f"invalid range {text!r}: bounds and step must be numbers") from None
    return _float_range(*numbers)


def _int_range(start: int, end: int, step: int | None = None) -> range:
    step = (1 if end >= start else -1) if step is None else step
    _check_step(start, end, step)
    return range(start, end + (1 if step > 0 else -1), step)


def _float_range(start: Decimal, end: Decimal, step: Decimal | None = None) -> list[Value]:
    step = Decimal(1 if end >= start else -1) if step is None else step
    _check_step(start, end, step)
    count = int((end - start) / step) + 1
    if count > MAX_VALUES:
        raise ValueError(f"range has {count:,} values (limit {MAX_VALUES:,})")
    return [float(start + index * step) for index in range(count)]


def _check_step(start: Any, end: Any, step: Any) -> None:
    if step == 0:
        raise ValueError("range step must not be 0")
    if (end - start) * step < 0:
        raise ValueError(f"range step {step} never goes from {start} to {end}")


def render_plain(value: Value) -> str:
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "n" not in text:  # exponent form, but not inf/nan
            return format(Decimal(text), "f")
        return text
    return str(value)


@dataclass(frozen=True)
class ParameterSet:
    """The parameters one job, file or user data entry expands over, in declaration order."""

    parameters: tuple[Parameter, ...]
    mode: str = "product"
    names: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", {p.name: i for i, p in enumerate(self.parameters)})
        if self.mode == "zip":
            _check_zip_lengths(self.parameters)

    def count(self, only: Collection[str] | None = None) -> int:
        """How many combinations ``combinations`` yields (without making them); with
        ``only``, how many distinct combinations of those parameters' values it holds."""
        if self.mode == "zip":
            return len(self.parameters[0].values)
        return math.prod(len(p.values) for p in self.parameters if only is None or p.name in only)

    def combinations(self) -> Iterator[tuple[int, ...]]:
        """Index tuples into each parameter's values; product varies the FIRST slowest."""
        ranges = [range(len(p.values)) for p in self.parameters]
        if self.mode == "zip":
            return zip(*ranges, strict=True)
        return itertools.product(*ranges)

    def combination_at(self, position: int) -> tuple[int, ...]:
        """The ``position``-th tuple ``combinations`` yields, computed without the others."""
        if self.mode == "zip" or len(self.parameters) == 1:
            return (position,) * len(self.parameters)
        indexes = []
        for parameter in reversed(self.parameters):
            position, index = divmod(position, len(parameter.values))
            indexes.append(index)
        return tuple(reversed(indexes))


def _check_zip_lengths(parameters: Sequence[Parameter]) -> None:
    first = parameters[0]
    for other in parameters[1:]:
        if len(other.values) != len(first.values):
            raise ValueError(
                "All parameters must have the same number of values when using 'zip' mode. "
                f"Parameter '{first.name}' has {len(first.values)} values, but '{other.name}' "
                f"has {len(other.values)} values."
            )


Slot = tuple[int, Sequence[str]]
# Integer ranges up to this long are rendered once, ahead (fast); longer ones as they are read.
_RENDER_AHEAD = 100_000


@dataclass(frozen=True)
class Template:
    """A string with parameter slots, rendered by ``str.format`` (C speed for 100k jobs):
    ``pattern`` holds ``{0}``, ``{1}``... for the slots and doubled braces for literal ones."""

    text: str
    pattern: str
    slots: tuple[Slot, ...]

    @property
    def constant(self) -> str | None:
        return None if self.slots else self.text

    def render(self, combination: Sequence[int]) -> str:
        if not self.slots:
            return self.text
        return self.pattern.format(*[values[combination[pos]] for pos, values in self.slots])


class TemplateCompiler:
    """Compiles templates for one ParameterSet, rendering each (parameter, spec) only once."""

    def __init__(self, parameters: ParameterSet, only: Collection[str] | None = None) -> None:
        """``only``: substitute just these parameters; the others' placeholders stay."""
        self._set = parameters
        self._names = (
            parameters.names
            if only is None
            else {name: index for name, index in parameters.names.items() if name in only}
        )
        self._rendered: dict[tuple[str, str | None], Sequence[str]] = {}

    def uses_parameters(self, text: str) -> bool:
        return any(m.group(1) in self._names for m in PLACEHOLDER.finditer(text))

    def used_parameters(self, text: str) -> set[str]:
        return {m.group(1) for m in PLACEHOLDER.finditer(text) if m.group(1) in self._names}

    def compile(self, text: str) -> Template:
        pieces: list[str] = []
        slots: list[Slot] = []
        last = 0
        for match in PLACEHOLDER.finditer(text):
            name, spec = match.group(1), match.group(2)
            if name not in self._names:
                continue  # unknown names stay literal
            pieces.append(_escape(text[last : match.start()]) + "{" + str(len(slots)) + "}")
            slots.append((self._set.names[name], self._values(name, spec)))
            last = match.end()
        pieces.append(_escape(text[last:]))
        return Template(text, "".join(pieces), tuple(slots))

    def _values(self, name: str, spec: str | None) -> Sequence[str]:
        key = (name, spec)
        if key not in self._rendered:
            values = self._set.parameters[self._set.names[name]].values
            if isinstance(values, range) and len(values) > _RENDER_AHEAD:
                self._rendered[key] = _RenderedRange(name, values, spec)
            else:
                self._rendered[key] = [_render(name, value, spec) for value in values]
        return self._rendered[key]


class _RenderedRange(Sequence[str]):
    """A long integer range's values, rendered when read: "1:100000000" stays a range."""

    def __init__(self, name: str, values: range, spec: str | None) -> None:
        self._name, self._values, self._spec = name, values, spec
        _render(name, values[0], spec)  # a spec that does not fit fails now, as a list would

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, index: Any) -> Any:
        return _render(self._name, self._values[index], self._spec)


def _escape(literal: str) -> str:
    return literal.replace("{", "{{").replace("}", "}}")


def _render(name: str, value: Value, spec: str | None) -> str:
    if spec is None:
        return render_plain(value)
    try:
        return format(value, spec)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"cannot format value {render_plain(value)!r} of parameter '{name}' with "
            f"'{{{name}:{spec}}}': {exc}"
        ) from None
