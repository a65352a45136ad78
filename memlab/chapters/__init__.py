"""The chapter registry: one small module per chapter, discovered automatically.

A chapter module ``memlab/chapters/chNN_slug.py`` defines ``CHAPTER = Chapter(...)`` with its
notebook, title, mechanisms (each with its state-size formula), parameter model (quick
defaults + ``FULL`` profile) and claim targets. The notebook, the claim tests, ``memlab list``,
``memlab report`` and chapter 00's generated table all read this one place, so a claim's
tolerance is written once.

Adding a chapter = adding one module here + its notebook; nothing else to register.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path

from memlab.params import ChapterParams
from memlab.report import Target

__all__ = ["Chapter", "Mechanism", "all_chapters", "get_chapter", "NOTEBOOK_DIR"]

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


@dataclass(frozen=True)
class Mechanism:
    name: str
    module: str                 # where it lives, e.g. "memlab.associative.hopfield"
    state_size: str             # formula, e.g. "N^2 (weights W)"
    paper: str = ""             # short citation


@dataclass(frozen=True)
class Chapter:
    number: str                 # "01"
    slug: str                   # "associative_memory"
    title: str
    summary: str
    Params: type[ChapterParams]
    mechanisms: tuple[Mechanism, ...] = ()
    claims: dict[str, Target] = field(default_factory=dict)

    @property
    def notebook(self) -> str:
        return f"{self.number}_{self.slug}.ipynb"

    @property
    def notebook_path(self) -> Path:
        return NOTEBOOK_DIR / self.notebook


def all_chapters() -> list[Chapter]:
    """Every chapter module's CHAPTER, sorted by number."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("ch"):
            mod = importlib.import_module(f"{__name__}.{info.name}")
            if hasattr(mod, "CHAPTER"):
                found.append(mod.CHAPTER)
    return sorted(found, key=lambda c: c.number)


def get_chapter(key: str | int | Path) -> Chapter:
    """Find a chapter by number ("01", 1), slug, notebook name or notebook path."""
    text = Path(str(key)).name if isinstance(key, (str, Path)) else f"{int(key):02d}"
    text = text.removesuffix(".ipynb")
    chapters = all_chapters()
    for ch in chapters:
        if text in (ch.number, ch.slug, f"{ch.number}_{ch.slug}") or (
                text.isdigit() and int(text) == int(ch.number)):
            return ch
    known = ", ".join(c.notebook for c in chapters)
    raise KeyError(f"no chapter {key!r}; known chapters: {known}")
