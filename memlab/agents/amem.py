"""A-MEM: agentic memory as linked notes that evolve.

Paper: Xu et al., "A-MEM: Agentic Memory for LLM Agents", 2025 (code: agiresearch/A-mem and
the paper repo WujiangXu/AgenticMemory).

Glossary (paper -> here)::

    m_i = {c_i, t_i, K_i, G_i, X_i, e_i, L_i}   a note: store row + meta
    c_i content      text                    t_i timestamp   meta["date"]
    K_i keywords     meta["keywords"]        G_i tags        meta["tags"]
    X_i context      meta["context"]         L_i links       store.links(id)
    e_i = f_enc(concat(c_i, K_i, G_i, X_i))  the vector (embed_text = content+context+kw+tags)

Write (``process_memory``): analyse the note (one LLM call: keywords, context, tags), retrieve
the ``k = 5`` nearest notes, one LLM call decides ``should_evolve`` and ``actions`` among
*strengthen* (link the new note to ``suggested_connections``, replace its tags) and
*update_neighbor* (overwrite neighbour j's context and tags with
``new_context_neighborhood[j]``, ``new_tags_neighborhood[j]``, re-embed it).

Read (``search_agentic``): top-k by cosine, then each hit's *forward* links appended, and the
list cut to k (A-mem's ``memories[:k]``). The neighbour search at write time embeds the
content alone (A-mem's ``find_related_memories(note.content, k)``).

Two known bugs, reproducible by flags:
* ``validate_links=False``: LLM-suggested link ids are stored unchecked (A-mem #11; an id
  like "0" that names no note). Default True: only indices 0..k-1 of the shown neighbours.
* ``rank_as_position=True``: the ChromaDB port indexes ``list(memories.values())[rank]`` --
  a neighbour's *search rank* used as an *insertion position* -- so the wrong notes are
  rewritten. Default False.

Gotcha reproduced as documentation: the paper repo analyses a note (keywords, context, tags)
when it is built; at A-mem HEAD ``add_note`` never calls the analysis, so metadata stays empty
unless the caller passes it. Here every note is analysed (the paper repo's behaviour).

Not included: consolidation every 100 evolutions (our index re-embeds on each update instead),
the hybrid BM25 retriever.
"""

from __future__ import annotations

from memlab.agents.base import AgentMemory, round_text
from memlab.agents.llm import iso_date

__all__ = ["AMem"]


def _embed_text(content: str, meta: dict) -> str:
    return " ".join([content, meta.get("context", ""), " ".join(meta.get("keywords", [])),
                     " ".join(meta.get("tags", []))])


class AMem(AgentMemory):
    name = "a-mem"

    def __init__(self, *args, k: int = 5, validate_links: bool = True,
                 rank_as_position: bool = False, **kw):
        super().__init__(*args, **kw)
        self.k, self.validate_links, self.rank_as_position = k, validate_links, rank_as_position
        self.evolutions, self.bad_links = 0, []

    def _observe(self, user_text, assistant_text, sources):
        self.add_note(round_text(user_text, assistant_text), sources)

    def add_note(self, content: str, sources: list[str] = ()) -> int:
        a = self.llm.analyse_note(content)
        meta = {"sources": list(sources), "date": iso_date(self.clock.now),
                "keywords": a["keywords"], "context": a["context"], "tags": a["tags"],
                "retrieval_count": 0}
        neighbours = self.store.search(self.user, content, self.k)   # A-mem: content only
        dec = self.llm.link_notes(content, [h.text for h in neighbours]) if neighbours else \
            {"should_evolve": False}
        with self.store.transaction():
            if dec.get("should_evolve") and "strengthen" in dec.get("actions", []):
                meta["tags"] = list(dec.get("tags_to_update") or meta["tags"])
            nid = self.store.add(self.user, content, meta, reason="new note",
                                 embed_text=_embed_text(content, meta))
            if not dec.get("should_evolve"):
                return nid
            self.evolutions += 1
            if "strengthen" in dec.get("actions", []):
                for j in dec.get("suggested_connections", []):
                    if isinstance(j, int) and 0 <= j < len(neighbours):
                        self.store.link(nid, neighbours[j].id, reason="strengthen")
                    elif self.validate_links:
                        self.bad_links.append(j)
                    else:  # the unvalidated behaviour: whatever the LLM said becomes a link
                        self.store.update(nid, meta={"raw_links": [*self.store.get(nid).meta.get(
                            "raw_links", []), j]}, reason="strengthen (unvalidated id)")
            if "update_neighbor" in dec.get("actions", []):
                everyone = self.store.items(self.user) if self.rank_as_position else None
                ctxs = dec.get("new_context_neighborhood", [])
                tagss = dec.get("new_tags_neighborhood", [])
                for j, h in enumerate(neighbours):
                    ctx = ctxs[j] if j < len(ctxs) else None
                    tags = tagss[j] if j < len(tagss) else None
                    if ctx is None and tags is None:
                        continue
                    target = everyone[j] if self.rank_as_position else self.store.get(h.id)
                    m = {"context": ctx or target.meta.get("context", ""),
                         "tags": tags or target.meta.get("tags", [])}
                    self.store.update(target.id, meta=m, embed_text=_embed_text(
                        target.text, {**target.meta, **m}), reason=f"evolved by note {nid}")
        return nid

    def retrieve(self, query, k=5):
        hits = self.store.search(self.user, query, k)
        seen = {h.id for h in hits}
        extra = []
        for h in hits:
            for j in self.store.links(h.id):                    # forward links only
                if j not in seen and len(extra) < k:
                    seen.add(j)
                    extra += self.store.hits([j], [{"linked_from": h.id}], [0.0], user=self.user)
        return (hits + extra)[:k]                               # A-mem: memories[:k]
