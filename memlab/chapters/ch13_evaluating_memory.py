"""Chapter 13: evaluating agent memory with one harness (LongMemEval-lite)."""

from memlab.chapters import Chapter, Mechanism
from memlab.params import ChapterParams, Field
from memlab.report import at_least, at_most, between


class Params(ChapterParams):
    use_shipped: bool = Field(True, description="True: the shipped LongMemEval-lite copy; "
                              "False: generate n_personas x n_sessions from seed")
    n_personas: int = Field(6, ge=1, le=200, description="personas (users) when generating")
    n_sessions: int = Field(8, ge=6, le=100, description="sessions per persona when generating")
    top_k: int = Field(5, ge=1, le=50, description="memories retrieved per question")
    max_k: int = Field(8, ge=2, le=50, description="largest k in the recall@k sweep")
    long_sessions: int = Field(32, ge=12, le=400,
                               description="sessions per persona in the long-history run")

    FULL = {"use_shipped": False, "n_personas": 40, "n_sessions": 20, "long_sessions": 120}


CHAPTER = Chapter(
    number="13",
    slug="evaluating_memory",
    title="Evaluating memory",
    summary="One harness runs every chapter-12 system on the same LongMemEval-lite data: "
            "per-ability accuracy, recall@k of the evidence, stale-fact rate, store growth "
            "and LLM calls per write, how each degrades as the history grows, a LoCoMo-shaped "
            "export, and operation-level hallucination (HaluMem-lite) under a noisy LLM.",
    Params=Params,
    mechanisms=(
        Mechanism("LongMemEval-lite generator", "memlab.tasks.longmemeval",
                  "7 questions per persona", "Wu et al. 2025"),
        Mechanism("Memory harness", "memlab.agents.harness",
                  "one fresh store per persona", "memlab"),
        Mechanism("LoCoMo-shaped export + token F1", "memlab.tasks.longmemeval",
                  "same questions, LoCoMo categories", "Maharana et al. 2024"),
        Mechanism("HaluMem-lite noisy LLM + integrity", "memlab.agents.halumem",
                  "omitted / fabricated / stale facts", "HaluMem 2025"),
    ),
    claims={
        # the full-context oracle answers every question: data, reader and scorer agree
        "oracle_accuracy": between(1.0, 1.0),
        # recall_any@k of plain retrieval never decreases with k (fraction of steps)
        "recall_monotone_in_k": between(1.0, 1.0),
        # MemoryBank loses accuracy as the same facts sit under 4x more sessions ...
        "memorybank_drop_long_history": at_least(0.1),
        # ... while Mem0's fact store does not
        "mem0_drop_long_history": at_most(0.05),
        # Mem0 pays for that with LLM calls on every write (extract, and decide when facts)
        "mem0_llm_calls_per_write": between(1.0, 2.0),
    },
)
