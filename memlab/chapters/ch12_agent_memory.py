"""Chapter 12: the long-term memory of LLM agents."""

from memlab.chapters import Chapter, Mechanism
from memlab.params import ChapterParams, Field
from memlab.report import at_least, at_most, between


class AgentDataParams(ChapterParams):
    """The LongMemEval-lite data and retrieval depth, shared by chapters 12 and 13."""

    use_shipped: bool = Field(True, description="True: the shipped LongMemEval-lite copy; "
                              "False: generate n_personas x n_sessions from seed")
    n_personas: int = Field(6, ge=1, le=200, description="personas (users) when generating")
    n_sessions: int = Field(8, ge=6, le=100, description="sessions per persona when generating")
    top_k: int | None = Field(None, ge=1, le=50,
                              description="memories retrieved per question (None: each system's "
                                          "own, MemoryBank 6, the others 5)")


class Params(AgentDataParams):
    n_per_cell: int = Field(400, ge=50, le=20000,
                            description="memories per (age, strength) cell in the retention run")
    context_window: int = Field(300, ge=100, le=100000,
                                description="MemGPT context budget in tokens")

    FULL = {"use_shipped": False, "n_personas": 40, "n_sessions": 20, "n_per_cell": 4000}


CHAPTER = Chapter(
    number="12",
    slug="agent_memory",
    title="Agent memory systems",
    summary="How LLM agents remember users across sessions: MemoryBank's Ebbinghaus forgetting, "
            "Generative Agents' recency-importance-relevance score, Mem0's "
            "ADD/UPDATE/DELETE/NONE, A-MEM's linked notes, MemGPT-style paging and MemOS-style "
            "versioned units, all on one durable, inspectable SQLite store.",
    Params=Params,
    mechanisms=(
        Mechanism("MemoryBank forgetting", "memlab.agents.memorybank",
                  "rounds kept (random deletion) + 1 summary per session", "Zhong et al. 2024"),
        Mechanism("Generative Agents retrieval", "memlab.agents.generative",
                  "1 node per round", "Park et al. 2023"),
        Mechanism("Mem0 extract + update", "memlab.agents.mem0",
                  "1 row per live fact", "Chhikara et al. 2025"),
        Mechanism("A-MEM linked notes", "memlab.agents.amem",
                  "1 note per round + links", "Xu et al. 2025"),
        Mechanism("MemGPT-style paging", "memlab.agents.memgpt",
                  "context_window tokens + core block chars + recall rows",
                  "Packer et al. 2023"),
        Mechanism("MemOS-style memory units", "memlab.agents.memos",
                  "1 row per fact version (archived kept)", "Li et al. 2025"),
        Mechanism("Event-sourced SQLite store", "memlab.agents.store",
                  "rows + events + vectors (d floats each)", "memlab"),
        Mechanism("Think-in-Memory (TiM)", "memlab.agents.tim",
                  "1 thought per live fact (merged per relation) + R (d x b/2)",
                  "Liu et al. 2023"),
        Mechanism("MemGAS multi-granularity routing", "memlab.agents.memgas",
                  "rounds + 3 units per session (session, summary, keywords) + GMM links",
                  "Xu et al. 2025"),
    ),
    claims={
        # fraction of (t > 0, S_a < S_b) pairs with R(t, S_b) > R(t, S_a); the public code's
        # exp(-t / 5*S) scores 0
        "retention_monotone_in_strength": between(1.0, 1.0),
        # max |surviving fraction - exp(-t/S)| over 15 (t, S) cells after one forgetting pass
        # (binomial noise ~0.025 at 400 per cell; the precedence bug gives ~0.5)
        "retention_curve_max_err": at_most(0.1),
        # knowledge-update questions answered with the current value by Mem0-style updates
        "mem0_ku_accuracy": at_least(0.9),
        # ... and with the old value: Mem0 almost never, plain retrieval over rounds often. The
        # latter is a wording effect (the update turn shares fewer words with the question than
        # the first mention): reworded to reuse the question's verb, it is 0.00; the notebook
        # records both
        "mem0_stale_rate": at_most(0.05),
        "plain_stale_rate": at_least(0.3),
        # committed writes missing after SIGKILL of the writer; bytes of a forgotten user left
        "crash_lost_commits": at_most(0),
        "forget_residual_bytes": at_most(0),
        # Think-in-Memory: paraphrases of one question (the reader understands all of them;
        # retrieval sees the words) never get two different answers from TiM's thoughts ...
        "tim_contradiction_rate": at_most(0.05),
        # ... and TiM answers all paraphrases alike more often than retrieval over raw rounds
        # (fraction of consistent, non-abstaining groups: TiM - plain retrieval)
        "tim_consistency_gain": at_least(0.1),
        # MemGAS: the entropy router + graph walk vs the *mean* single granularity (QA accuracy
        # over k = 1..3). The paper's stronger claim, beating *every* single granularity, does
        # not hold here over seeds (recorded as a metric, not claimed)
        "memgas_gain_over_mean_granularity": at_least(0.02),
    },
)
