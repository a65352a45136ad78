"""Chapter 18: streaming and embodied memory (frame banks, STM -> LTM, memory trees, scene memory)."""

from typing import ClassVar

from memlab.chapters import Chapter, Mechanism
from memlab.params import ChapterParams, Field
from memlab.report import at_least, at_most


class Params(ChapterParams):
    n_frames: int = Field(2000, ge=100, le=200_000, description="frames in the scene stream")
    n_tokens: int = Field(16, ge=1, le=256, description="spatial tokens per frame (N)")
    d: int = Field(64, ge=8, le=1024, description="feature dimension of a token")
    n_scenes: int = Field(20, ge=2, le=1000, description="scenes in the stream")
    n_events: int = Field(10, ge=1, le=1000, description="rare single-frame events in the stream")
    budget: int = Field(64, ge=4, le=10_000, description="frame-bank budget (entries kept)")
    n_videos: int = Field(100, ge=10, le=10_000, description="tracking videos per condition")
    pathways: int = Field(3, ge=2, le=16, description="memory pathways P of the tree")
    n_tasks: int = Field(50, ge=10, le=10_000, description="household tasks per house")
    stm_capacity: int = Field(6, ge=1, le=100, description="objects held in short-term memory")
    n_seeds: int = Field(3, ge=1, le=50, description="seeds in the printed seed spreads")

    FULL: ClassVar[dict] = {"n_frames": 20_000, "n_scenes": 100, "n_events": 50, "budget": 256,
                            "n_videos": 1000, "n_tasks": 300, "n_seeds": 10}


CHAPTER = Chapter(
    number="18",
    slug="streaming_embodied_memory",
    title="Streaming and embodied memory",
    summary="An endless stream into a bounded memory: merge similar adjacent frames "
            "(MA-LMM, size-weighted; Flash-VStream, unweighted), consolidate a short-term ring "
            "buffer into a long-term bank, fuse retrieved history with the present through a "
            "gate (MemoryVLA), keep several memory pathways so that one early mistake cannot "
            "take over (SAM2Long), and plan with a scene graph plus object states (KARMA).",
    Params=Params,
    mechanisms=(
        Mechanism("Frame bank (MA-LMM / Flash-VStream)", "memlab.streaming.framebank",
                  "budget * N * d floats (+ sizes and spans)", "He et al. 2024; Zhang et al. 2024"),
        Mechanism("Short-to-long-term consolidation", "memlab.streaming.consolidation",
                  "(L_short + L_long) * N * d floats", "Flash-VStream 2024; IXC2.5-OL 2024"),
        Mechanism("Perceptual-cognitive memory (MemoryVLA)", "memlab.streaming.vla",
                  "L * 2d floats", "Shi et al. 2025"),
        Mechanism("Memory tree (SAM2Long)", "memlab.streaming.tree",
                  "P pathway memories", "Ding et al. 2024"),
        Mechanism("Scene graph + object states (KARMA)", "memlab.streaming.karma",
                  "graph edges + capacity object states (bytes of JSON)", "Wang et al. 2024"),
    ),
    claims={
        # fraction of the scenes of the first half recalled by the MA-LMM bank at the budget
        "merge_early_recall": at_least(0.9),
        # ... and by FIFO, which keeps only the last `budget` frames
        "fifo_early_recall": at_most(0.2),
        # early-scene reconstruction error: unweighted (Flash-VStream) / size-weighted (MA-LMM)
        "weighted_merge_error_ratio": at_least(2.0),
        # mean event recall of the averaging policies (MA-LMM, Flash merge, weighted k-means);
        # an uncompressed bank recalls every event (an honest limit, not a win)
        "events_lost_by_averaging": at_most(0.5),
        # largest change of a bank written within its budget, every policy (an equality)
        "bank_under_budget_unchanged": at_most(0.0),
        # hit rate of P pathways minus greedy, look-alike crossing + occlusion
        "tree_gain_hard": at_least(0.10),
        # |hit rate of P pathways - greedy| with neither distractor nor occlusion
        "tree_gap_clean": at_most(0.02),
        # largest |track(P = 1) - track(greedy)| (an equality)
        "tree_p1_equals_greedy": at_most(0.0),
        # composite-task success, scene graph + object states over no memory (KARMA: 1.3x)
        "karma_success_ratio": at_least(1.3),
    },
)
