"""Chapter 00: the tour."""

from memlab.chapters import Chapter
from memlab.params import ChapterParams, Field
from memlab.report import at_least


class Params(ChapterParams):
    demo_patterns: int = Field(3, ge=1, le=20, description="patterns stored in the tour's tiny Hopfield demo")
    FULL = {}


CHAPTER = Chapter(
    number="00",
    slug="start",
    title="Start here",
    summary="The taxonomy of memory in AI, the shared vocabulary (write / read / forget / "
            "state_size), and how parameters, widgets, reports and exercises work.",
    Params=Params,
    mechanisms=(),
    claims={"chapters_listed": at_least(1)},
)
