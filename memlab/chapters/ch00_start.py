"""Chapter 00: the tour."""

from memlab.chapters import Chapter
from memlab.params import ChapterParams, Field
from memlab.report import between


class Params(ChapterParams):
    d_model: int = Field(64, ge=2, le=4096, description="model width used in the state-size comparison")
    max_len: int = Field(4096, ge=16, le=1_000_000, description="longest context in the state-size plot")
    FULL = {"max_len": 131072}


CHAPTER = Chapter(
    number="00",
    slug="start",
    title="Start here",
    summary="The taxonomy of memory in AI, the shared vocabulary (write / read / forget / "
            "state_size), and how parameters, widgets, reports and exercises work.",
    Params=Params,
    mechanisms=(),
    claims={
        # every later chapter is listed with its notebook and a state-size formula
        "chapters_with_state_size": between(1.0, 1.0),
        # every sequence memory obeys the vocabulary's equalities (max relative error)
        "vocabulary_equalities_rel_err": between(0.0, 1e-4),
    },
)
