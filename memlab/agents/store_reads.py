"""The agent store's reads: rows, links, the event log and its fold (``as_of``), and vector
search over a per-process cache that is dropped whenever another connection has committed
(``PRAGMA data_version``). A mixin of :class:`memlab.agents.store.MemoryStore`, which owns
the connection, the embedder and the writes."""

from __future__ import annotations

import json
import math

import numpy as np

from memlab.agents.store_types import Hit, Item, _user, check_k

__all__ = ["StoreReads"]

#: the actor of the store's own audit events (see :mod:`memlab.agents.store`)
AUDIT_ACTOR = ""


class StoreReads:
    """Read methods of :class:`~memlab.agents.store.MemoryStore` (``self.conn``, ``self.embedder``,
    ``self._lock``, ``self._cache`` and ``self._pending`` are set by the store)."""

    def _item(self, r) -> Item:
        return Item(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7])

    _COLS = "id,user_id,kind,state,text,meta,created_at,updated_at"

    def get(self, mid: int) -> Item | None:
        r = self.conn.execute(f"SELECT {self._COLS} FROM memories WHERE id=?", (mid,)).fetchone()
        return self._item(r) if r else None

    def items(self, user: str, kind: str | None = None, state: str | None = "active") -> list[Item]:
        user = _user(user)
        q, args = f"SELECT {self._COLS} FROM memories WHERE user_id=?", [user]
        if kind is not None:
            q, args = q + " AND kind=?", args + [kind]
        if state is not None:
            q, args = q + " AND state=?", args + [state]
        return [self._item(r) for r in self.conn.execute(q + " ORDER BY id", args)]

    def count(self, user: str | None = None) -> int:
        if user is None:
            return self.conn.execute("SELECT COUNT(*) FROM memories").fetchone()[0]
        user = _user(user)
        return self.conn.execute("SELECT COUNT(*) FROM memories WHERE user_id=?",
                                 (user,)).fetchone()[0]

    def links(self, mid: int, both: bool = False) -> list[int]:
        """Ids ``mid`` links to (and, with ``both``, the ids linking to it)."""
        out = [r[0] for r in self.conn.execute("SELECT dst FROM links WHERE src=? ORDER BY dst",
                                               (mid,))]
        if both:
            out += [r[0] for r in self.conn.execute(
                "SELECT src FROM links WHERE dst=? ORDER BY src", (mid,)) if r[0] not in out]
        return out

    def history(self, mid: int) -> list[dict]:
        cols = ("seq", "ts", "op", "text", "old_text", "meta", "reason")
        rows = self.conn.execute(f"SELECT {','.join(cols)} FROM events WHERE memory_id=? "
                                 "ORDER BY seq", (mid,))
        return [dict(zip(cols, r)) for r in rows]

    def events(self, user: str) -> list[dict]:
        cols = ("seq", "ts", "memory_id", "op", "text", "old_text", "reason")
        user = user if user == AUDIT_ACTOR else _user(user)
        rows = self.conn.execute(f"SELECT {','.join(cols)} FROM events WHERE user_id=? "
                                 "ORDER BY seq", (user,))
        return [dict(zip(cols, r)) for r in rows]

    def as_of(self, user: str, t: float) -> dict[int, dict]:
        """The user's memories as they were at time ``t``: a fold over the event log."""
        user = _user(user)
        if not isinstance(t, (int, float, np.number)) or math.isnan(t):
            raise ValueError(f"t must be a number (inf: every event), got {t!r}")
        state: dict[int, dict] = {}
        for seq, mid, op, text, meta in self.conn.execute(
                "SELECT seq, memory_id, op, text, meta FROM events WHERE user_id=? AND ts<=? "
                "ORDER BY seq", (user, t)):
            if op in ("add", "summarise", "update"):
                m = json.loads(meta) if meta else {}
                state[mid] = {"text": text, "kind": m.pop("_kind", "memory"),
                              "state": m.pop("_state", "active"), "meta": m}
            elif op == "delete":
                state.pop(mid, None)
        return state

    def vectors(self, user: str, kind: str | None = None, fresh: bool = False):
        """``(ids [n], matrix [n, d])`` of the user's active memories (cached per process)."""
        user = _user(user)
        with self._lock:
            return self._vectors(user, kind, fresh)

    def _vectors(self, user, kind, fresh):
        if self.path != ":memory:" and not self._depth:
            v = self._version()        # another connection committed: every cache is stale
            if v != self._data_version:
                self._data_version = v
                self._cache.clear()
                self._pending.clear()
        if fresh or user not in self._cache:
            self._pending.pop(user, None)
            rows = self.conn.execute("SELECT id, kind, vec FROM memories WHERE user_id=? AND "
                                     "state='active' AND vec IS NOT NULL ORDER BY id",
                                     (user,)).fetchall()
            d = self.embedder.dim
            mat = (np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(-1, d)
                   if rows else np.zeros((0, d), np.float32))
            self._cache[user] = (np.array([r[0] for r in rows], dtype=np.int64),
                                 np.array([r[1] for r in rows], dtype=object), mat)
        if self._pending.get(user):       # appended since the last search: concatenate once
            ids, kinds, mat = self._cache[user]
            new = self._pending.pop(user)
            self._cache[user] = (np.concatenate([ids, [p[0] for p in new]]).astype(np.int64),
                                 np.concatenate([kinds, np.array([p[1] for p in new], object)]),
                                 np.vstack([mat] + [p[2][None] for p in new]))
        ids, kinds, mat = self._cache[user]
        if kind is not None:
            m = kinds == kind
            return ids[m], mat[m]
        return ids, mat

    def search(self, user: str, query: str, k: int = 5, kind: str | None = None,
               fresh: bool = False) -> list[Hit]:
        """Top-``k`` active memories by cosine; ``explain`` = ``{"cosine": s}``."""
        k, user = check_k(k), _user(user)
        ids, mat = self.vectors(user, kind, fresh)
        if len(ids) == 0:
            return []
        s = mat @ self.embed_for(user, [query])[0]
        if len(s) <= 4 * k:
            top = np.argsort(-s, kind="stable")[:k]
        else:                                   # O(n) partition, then sort the k
            part = np.argpartition(-s, k - 1)[:k]
            top = part[np.argsort(-s[part], kind="stable")]
        return self.hits([int(ids[i]) for i in top], [{"cosine": float(s[i])} for i in top],
                         [float(s[i]) for i in top], user=user)

    def hits(self, ids: list[int], explains: list[dict], scores: list[float],
             user: str | None = None, state: str | None = "active") -> list[Hit]:
        """Hits for ``ids``, each row re-read now: a row deleted, no longer in ``state`` or
        not ``user``'s (when given) -- e.g. changed by another process -- is left out."""
        user = None if user is None else _user(user)
        out = []
        for mid, ex, sc in zip(ids, explains, scores):
            it = self.get(mid)
            if it is not None and (state is None or it.state == state) and \
                    (user is None or it.user_id == user):
                out.append(Hit(mid, it.text, sc, ex, it.meta, it.created_at, it.updated_at,
                               it.kind))
        return out

    def integrity(self) -> str:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]
