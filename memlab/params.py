"""Typed notebook parameters: one pydantic model per chapter, validated twice.

Every chapter notebook starts with a cell tagged ``parameters`` (annotated, with ``# help``
comments, so that ``papermill.inspect_notebook`` discovers names, types and help) and then a
validation cell::

    from memlab.chapters import get_chapter
    P = get_chapter("01").Params.from_namespace(globals())

``memlab report`` validates ``-p`` overrides against the same model *before* starting a kernel,
so a misspelled name or an out-of-range value fails in seconds with one message naming the
parameter, the bad value and what is allowed. Running the notebook by hand (or from Binder,
or from plain papermill) gets the same error from the validation cell.

Profiles: the model's defaults are the ``quick`` profile (CPU, under 60 s); ``FULL`` holds the
overrides of the ``full`` profile for GPU runners.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["ChapterParams", "ParameterError", "Field", "PROFILES"]

PROFILES = ("quick", "full")


class ParameterError(ValueError):
    """A notebook parameter is unknown, missing, of the wrong type or out of range.

    The message holds one line per bad parameter. In a notebook IPython shows exactly those
    lines (``_render_traceback_``), not a traceback through pydantic and this module."""

    def _render_traceback_(self) -> list[str]:
        red, reset = "\x1b[31m", "\x1b[0m"
        return [f"{red}ParameterError{reset}: {line}" for line in str(self).splitlines()]


class ChapterParams(BaseModel):
    """Base model: ``device`` and ``seed`` exist in every chapter."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    FULL: ClassVar[dict[str, Any]] = {}

    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu' or 'cuda[:N]'")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="seed for python, numpy and torch")

    @field_validator("device")
    @classmethod
    def _device_name(cls, v: str) -> str:
        base = v.strip().lower().split(":")[0]
        if base not in ("auto", "cpu", "cuda"):
            raise ValueError("must be 'auto', 'cpu' or 'cuda[:N]'")
        return v.strip().lower()

    # ------------------------------------------------------------------ construction
    @classmethod
    def names(cls) -> list[str]:
        return list(cls.model_fields)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {k: f.default for k, f in cls.model_fields.items()}

    @classmethod
    def profile(cls, name: str) -> dict[str, Any]:
        """Overrides of a named profile: ``quick`` -> ``{}``, ``full`` -> ``cls.FULL``."""
        if name not in PROFILES:
            raise ParameterError(f"profile={name!r} is not allowed: use one of {PROFILES}")
        return {} if name == "quick" else dict(cls.FULL)

    @classmethod
    def check_names(cls, overrides: Mapping[str, Any]) -> None:
        """Reject names the chapter does not know, suggesting the closest one."""
        known = cls.names()
        bad = [name for name in overrides if name not in known]
        if bad:
            raise ParameterError("\n".join(
                f"unknown parameter {name!r}{cls._did_you_mean(name)}" for name in bad)
                + f"\nallowed: {', '.join(known)}")

    @classmethod
    def _did_you_mean(cls, name: str) -> str:
        close = difflib.get_close_matches(name, cls.names(), n=1, cutoff=0.6)
        return f"; did you mean {close[0]!r}?" if close else ""

    @classmethod
    def build(cls, values: Mapping[str, Any]):
        """Validate ``values`` (unknown names rejected) and return the model."""
        cls.check_names(values)
        try:
            return cls(**dict(values))
        except ValidationError as err:
            raise ParameterError(cls._explain(err, values)) from None

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]):
        """Build from a notebook's ``globals()``: every field must be defined there."""
        # A parameters cell writes ``name: type = value``; IPython records the annotated names,
        # so a misspelled one (``load_mx: float = 0.5``) is caught instead of silently ignored.
        annotated = namespace.get("__annotations__", {}) or {}
        unknown = [n for n in annotated if n not in cls.model_fields]
        if unknown:
            raise ParameterError("\n".join(
                f"the parameters cell defines {n!r}, which this chapter does not know"
                f"{cls._did_you_mean(n)}" for n in unknown))
        missing = [n for n in cls.names() if n not in namespace]
        if missing:
            raise ParameterError(
                f"the parameters cell does not define {', '.join(missing)} "
                f"(expected by {cls.__name__})")
        return cls.build({n: namespace[n] for n in cls.names()})

    @classmethod
    def _explain(cls, err: ValidationError, values: Mapping[str, Any]) -> str:
        lines = []
        for e in err.errors():
            if not e["loc"]:  # a check across several fields (model validator)
                lines.append(f"parameters not allowed together: {e['msg']}")
                continue
            name = ".".join(str(x) for x in e["loc"])
            field = cls.model_fields.get(name)
            allowed = _allowed(field) if field is not None else ""
            helptext = f" ({field.description})" if field is not None and field.description else ""
            got = values.get(name, e.get("input"))
            bound = e["type"] in ("greater_than", "greater_than_equal", "less_than",
                                  "less_than_equal")
            why = (f"is out of range: allowed{allowed.strip(' []').removeprefix('allowed:')}"
                   if bound and allowed else f"is not allowed: {e['msg']}")
            lines.append(f"parameter {name!r} = {_short(got)} {why}{helptext}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def __str__(self) -> str:
        """``name = value`` pairs wrapped at 100 characters (the notebook's parameter summary)."""
        import textwrap

        pairs = ", ".join(f"{k} = {_short(v)}" for k, v in self.model_dump().items())
        return "\n".join(textwrap.wrap(pairs, width=100, break_long_words=False,
                                       break_on_hyphens=False))

    __repr__ = __str__  # a cell that ends with the parameters echoes the summary, not a dump


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed(field) -> str:
    """Describe a field's constraints, e.g. ' [allowed: 100 <= value <= 2000]'."""
    lo = hi = None
    lo_op = hi_op = ""
    for m in field.metadata:
        for attr, op in (("ge", "<="), ("gt", "<")):
            if getattr(m, attr, None) is not None:
                lo, lo_op = getattr(m, attr), op
        for attr, op in (("le", "<="), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                hi, hi_op = getattr(m, attr), op
    if lo is None and hi is None:
        return ""
    text = "value"
    if lo is not None:
        text = f"{lo} {lo_op} {text}"
    if hi is not None:
        text = f"{text} {hi_op} {hi}"
    return f" [allowed: {text}]"
