"""Agent-memory store throughput: add and search at 10^3..10^5 memories (hashing embedder)."""

from __future__ import annotations

import time

import numpy as np

from memlab.bench import entry, timeit


def _texts(n: int, offset: int = 0) -> list[str]:
    rng = np.random.default_rng(offset)
    words = ["coffee", "berlin", "dog", "marathon", "job", "nurse", "car", "book", "jazz",
             "garden", "moved", "sister", "piano", "holiday", "recipe", "museum"]
    return [f"User note {offset + i}: " + " ".join(rng.choice(words, 6)) for i in range(n)]


def _size(store, d) -> float:
    """Database size in MB after a WAL checkpoint (rows + events + vectors)."""
    from pathlib import Path

    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in Path(d).glob("bench.db*")) / 1e6


@entry("agents_store_add_search", family="agents")
def store_add_search(quick: bool) -> list[dict]:
    """SQLite+WAL store: adds/s (one transaction each, and batched), searches/s, exact top-5."""
    import tempfile
    from pathlib import Path

    from memlab.agents.embed import HashingEmbedder
    from memlab.agents.store import MemoryStore

    sizes = (1000, 10000) if quick else (1000, 10000, 100000)
    emb = HashingEmbedder()
    rows = []
    for n in sizes:
        d = tempfile.mkdtemp()
        s = MemoryStore(str(Path(d) / "bench.db"), embedder=emb)
        texts = _texts(n)
        n_single = min(n, 1000)
        t0 = time.perf_counter()
        for t in texts[:n_single]:           # one transaction per add
            s.add("u", t)
        single = n_single / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        with s.transaction():                 # the rest in one transaction
            for t in texts[n_single:]:
                s.add("u", t)
        rest = n - n_single
        batched = rest / (time.perf_counter() - t0) if rest else float("nan")
        s.vectors("u", fresh=True)
        queries = _texts(20, offset=10 ** 7)
        ms = timeit(lambda s=s, qs=queries: [s.search("u", q, 5) for q in qs],
                    repeat=3) / len(queries)
        t0 = time.perf_counter()
        emb.embed(queries * 10)
        embed_ms = (time.perf_counter() - t0) * 1e3 / (len(queries) * 10)
        # exact top-5 by brute force vs the store's argpartition path
        ids, mat = s.vectors("u")
        q = emb.embed([queries[0]])[0]
        brute = set(ids[np.argsort(-(mat @ q))[:5]].tolist())
        got = {h.id for h in s.search("u", queries[0], 5)}
        rows.append({"memories": n, "adds_per_s_tx_each": single, "adds_per_s_batched": batched,
                     "search_ms": ms, "searches_per_s": 1e3 / ms, "embed_ms": embed_ms,
                     "top5_equal_bruteforce": brute == got,
                     "db_mb": _size(s, d)})
        s.close()
    return rows
