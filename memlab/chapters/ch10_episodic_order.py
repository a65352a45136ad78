"""Chapter 10: episodic memory and order (SORT-lite, EM-LLM event boundaries, HCAM)."""

from typing import ClassVar

from pydantic import model_validator

from memlab.chapters import Chapter, Mechanism
from memlab.params import ChapterParams, Field
from memlab.report import at_least, at_most, between


class Params(ChapterParams):
    book_words: int = Field(2000, ge=500, le=1_000_000, description="words in the generated book")
    n_trials: int = Field(400, ge=8, le=100_000, description="SORT trials (multiple of 8: "
                                                             "balanced over 4 bins and 2 answers)")
    excerpt_len: int = Field(200, ge=50, le=20_000, description="excerpt length L_E (words)")
    segment_len: int = Field(10, ge=2, le=100, description="segment length L_S (words)")
    chunk: int = Field(20, ge=2, le=1000, description="chunk length of the retrieval memories")
    n_events: int = Field(20, ge=4, le=1000, description="events in the boundary stream")
    gamma: float = Field(3.0, gt=0.0, le=10.0, description="surprise threshold mu + gamma sigma "
                                                           "(EM-LLM README: 1.0 for LLM surprise)")
    window: int = Field(64, ge=4, le=4096, description="history window of the surprise statistics")
    hcam_chunks: int = Field(64, ge=4, le=4096, description="HCAM chunks M")
    hcam_chunk_size: int = Field(16, ge=2, le=1024, description="HCAM chunk size C")
    top_k: int = Field(2, ge=1, le=64, description="HCAM chunks read in detail")
    n_seeds: int = Field(4, ge=1, le=20, description="seeds of the printed seed spreads")

    @model_validator(mode="after")
    def _sort_fits(self):
        if self.n_trials % 8:
            raise ValueError(f"n_trials={self.n_trials} must be a multiple of 8 (4 bins x 2 answers)")
        if self.segment_len >= self.excerpt_len / 4:
            raise ValueError(f"segment_len={self.segment_len} must be below excerpt_len/4 "
                             f"({self.excerpt_len / 4:g}): segments would overlap")
        if self.excerpt_len > self.book_words:
            raise ValueError(f"excerpt_len={self.excerpt_len} exceeds book_words={self.book_words}")
        if self.top_k > self.hcam_chunks:
            raise ValueError(f"top_k={self.top_k} exceeds hcam_chunks={self.hcam_chunks}")
        return self

    FULL: ClassVar[dict] = {"book_words": 20_000, "n_trials": 2000, "excerpt_len": 1000,
                            "segment_len": 20, "chunk": 50, "n_events": 100, "hcam_chunks": 256,
                            "n_seeds": 10}


CHAPTER = Chapter(
    number="10",
    slug="episodic_order",
    title="Episodic memory and order",
    summary="A retrieval memory that stores chunks without positions cannot say which of two "
            "passages came first (SORT); chunk indices give the order back. Surprise cuts a "
            "stream into events (EM-LLM). Hierarchical chunk attention reads detail only from "
            "the chunks whose summaries match (HCAM).",
    Params=Params,
    mechanisms=(
        Mechanism("SORT-lite memories", "memlab.episodic.sort",
                  "L_E words (in context); L_E words + L_E/c indices (chunks)", "Pink et al. 2024"),
        Mechanism("EM-LLM event boundaries", "memlab.episodic.boundaries",
                  "window surprises + boundary list", "Fountas et al. 2025"),
        Mechanism("HCAM", "memlab.episodic.hcam", "M (C + 1) D (contents + summaries)",
                  "Lampinen et al. 2021"),
    ),
    claims={
        # SORT-lite accuracy, excerpt in context (positions compared)
        "sort_in_context": at_least(0.95),
        # order-blind chunk retrieval: inside the 99.9 % binomial band around 0.5 at n = 400
        "sort_order_blind": between(0.42, 0.58),
        # chunk retrieval with chunk indices (EM-LLM's temporal metadata)
        "sort_with_indices": at_least(0.95),
        # negative control: in-context memory over sentence-shuffled excerpts -> chance
        "sort_shuffled_in_context": between(0.42, 0.58),
        # boundary F1 (+-3 tokens): surprise minus random boundaries of the same count
        "boundary_f1_margin": at_least(0.3),
        # negative control: a single-topic stream, the margin falls below the claim (seeds 0-7: <= 0.21)
        "single_topic_f1_margin": at_most(0.25),
        # HCAM (top-k chunks by mean summary, sharp attention inside) accuracy
        "hcam_accuracy": at_least(0.95),
        # HCAM minus flat attention over all M C states
        "hcam_minus_flat": at_least(-0.03),
        # scores computed by HCAM / by flat attention: (M + k C) / (M C)
        "hcam_score_fraction": at_most(0.15),
        # summary-only memory loses the detail
        "summary_only_accuracy": at_most(0.35),
        # negative control: summaries from the first token only
        "first_token_hcam_accuracy": at_most(0.5),
    },
)
