"""Chapter 13: evaluating agent memory with one harness (LongMemEval-lite)."""

from memlab.chapters import Chapter, Mechanism
from memlab.chapters.ch12_agent_memory import AgentDataParams
from memlab.params import Field
from memlab.report import at_least


class Params(AgentDataParams):
    max_k: int = Field(8, ge=2, le=50, description="largest k in the recall@k sweep")
    long_sessions: int = Field(32, ge=12, le=400,
                               description="sessions per persona in the long-history run")

    mab_personas: int = Field(3, ge=1, le=200,
                              description="personas in the MemoryAgentBench-lite run")

    FULL = {"use_shipped": False, "n_personas": 40, "n_sessions": 20, "long_sessions": 120,
            "mab_personas": 20}


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
        Mechanism("MemoryAgentBench-lite", "memlab.tasks.memoryagentbench",
                  "8 questions per persona, 4 competencies", "Hu et al. 2025"),
    ),
    claims={
        # Sanity checks that hold by construction (oracle == 1, recall@k monotone in k, Mem0's
        # calls per write in [1, 2]) are asserted in the notebook and tests, not claimed here.
        # Retrieval recall is not answer accuracy: on knowledge-update questions plain
        # retrieval retrieves the update turn (the current value) yet answers with the old one
        # (recall of the update turn - accuracy); control: Mem0, which rewrites the fact, shows
        # no gap. Target: more than one question in the 12 of 6 personas (1/12 = 0.083). The
        # earlier target, 0.3, held only while the stale first mention counted as evidence;
        # counted on the update turn the gap is 0.17-0.42 over generator seeds 0-8 (0.17 on
        # the shipped data), recorded in the notebook with its spread
        "plain_ku_recall_minus_accuracy": at_least(0.1),
        # Abilities, not one number: Generative Agents' recency + importance terms lose the
        # temporal questions plain retrieval answers (plain - GA temporal accuracy); control:
        # the same code with relevance only shows no deficit
        "ga_temporal_deficit": at_least(0.5),
        # MemoryBank with the public code's rules (S = 1, t in days, a day's summary removed
        # with its last turn) has forgotten most facts before the questions come: accuracy with
        # forgetting off minus on, same records. With summaries kept forever (the old default)
        # the cost is 0.07 on the shipped data: the summaries answered. Its drop from 8 to 32
        # sessions is recorded, not claimed: at its floor by 8 sessions it drops only 0.07-0.19
        # (seeds 0-5); fact stores' 0.00 drop holds by construction (the filler has no facts)
        "memorybank_forgetting_cost": at_least(0.3),
        # MemoryAgentBench-lite: test-time learning needs the taught examples, which systems
        # that keep only extracted facts drop (round stores - fact stores, TTL accuracy) ...
        "mab_ttl_rounds_minus_facts": at_least(0.5),
        # ... and conflict resolution: the fraction of the chapter-12 systems that answer some
        # changed fact with an old value (the benchmark: most systems fail it)
        "mab_cr_stale_systems": at_least(0.4),
    },
)
