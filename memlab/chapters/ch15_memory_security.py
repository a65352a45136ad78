"""Chapter 15: memory security -- query-only injection, triggered poisoning, and a defence."""

from memlab.chapters import Chapter, Mechanism
from memlab.params import ChapterParams, Field
from memlab.report import at_least, at_most


class Params(ChapterParams):
    n_patients: int = Field(50, ge=4, le=900, description="patients in the EHR-lite world")
    rounds_per_level: int = Field(3, ge=1, le=20,
                                  description="MINJA attack queries per indication-prompt level")
    n_benign_defence: int = Field(10, ge=0, le=2000,
                                  description="benign records the agent wrote before the attack, "
                                              "in the defence experiment")
    n_queries: int = Field(40, ge=5, le=2000, description="victim and benign test queries each")
    K: int = Field(5, ge=1, le=50, description="memories A-MemGuard checks for consensus")
    n_records: int = Field(300, ge=20, le=20000,
                           description="records in memory before AgentPoison plants its own")
    n_poison: int = Field(3, ge=1, le=100, description="records AgentPoison plants")
    n_seeds: int = Field(3, ge=1, le=50, description="seeds for the printed seed spreads")

    FULL = {"n_patients": 200, "rounds_per_level": 5, "n_queries": 200, "n_records": 2000,
            "n_seeds": 10}


CHAPTER = Chapter(
    number="15",
    slug="memory_security",
    title="Memory security",
    summary="An agent that writes its own memories can be made to write an attacker's: MINJA "
            "injects with queries alone (bridging steps, indication prompt, progressive "
            "shortening), AgentPoison pulls a few planted records into retrieval with an "
            "optimised trigger, and A-MemGuard defends with a consensus check over retrieved "
            "memories and a separate lesson store -- and fails where its consensus does.",
    Params=Params,
    mechanisms=(
        Mechanism("Retrieval-augmented imitation agent", "memlab.security.agent",
                  "1 record per query (text + program + d floats)", "Dong et al. 2025"),
        Mechanism("MINJA query-only injection", "memlab.security.minja",
                  "rounds_per_level x 4 records written by the agent", "Dong et al. 2025"),
        Mechanism("AgentPoison trigger", "memlab.security.poison",
                  "n_tokens words + n_poison records", "Chen et al. 2024"),
        Mechanism("A-MemGuard consensus", "memlab.security.guard",
                  "K candidate paths per query (transient)", "A-MemGuard, arXiv 2510.02373"),
        Mechanism("A-MemGuard lesson store", "memlab.security.guard",
                  "1 row per (entity, forbidden step)", "A-MemGuard, arXiv 2510.02373"),
    ),
    claims={
        # MINJA on an empty memory: stored records that carry the bridge / victim queries
        # answered from the target patient (paper: ISR ~98 %, ASR ~77 %)
        "minja_isr_empty": at_least(0.9),
        "minja_asr_empty": at_least(0.6),
        # AgentPoison: a poisoned record in the top-k with the optimised trigger / without it
        # (paper: ~80 % retrieval success at < 0.1 % poisoning; 1 % here)
        "poison_retrieval_triggered": at_least(0.8),
        "poison_retrieval_benign": at_most(0.01),
        # A-MemGuard after MINJA on a memory with benign records: 1 - ASR_def / ASR_none,
        # attack success pooled over the n_seeds seeds (paper: "over 95 %"; single seeds
        # range 0.74-1.0 over seeds 0-7), and the accuracy lost on benign look-alike queries
        "defence_asr_reduction": at_least(0.9),
        "defence_utility_drop": at_most(0.05),
        # negative control: K = 1 leaves nothing to agree with, so no reduction (pooled)
        "k1_asr_reduction": at_most(0.1),
        # long run, every answer written, attack heavier than the benign history: late ASR
        # with the lesson store (mean over seeds); consensus alone is recorded beside it
        "lessons_late_asr": at_most(0.05),
    },
)
