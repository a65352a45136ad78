"""Retrieval memory over activations (chapter 07).

* :mod:`~memlab.retrieval.knn` -- ``KNNMemory``: FIFO (key, value) store, exact torch or faiss
  search (``faiss-cpu`` is the optional extra ``memlab[ann]``).
* :mod:`~memlab.retrieval.memorizing` -- Memorizing-Transformer attention (local + kNN, gated).
* :mod:`~memlab.retrieval.longmem` -- LongMem: frozen writer, trained side reader.
* :mod:`~memlab.retrieval.vq` -- MEMORY-VQ: k-means / product quantisation of the store.
* :mod:`~memlab.retrieval.infllm` -- InfLLM block memory with representative tokens.
* :mod:`~memlab.retrieval.emllm` -- EM-LLM surprise events, similarity + contiguity recall.
* :mod:`~memlab.retrieval.emat` -- EMAT key-value memory of QA pairs read by MIPS.
* :mod:`~memlab.retrieval.experiments` -- the chapter's experiments (notebook + claim tests).
"""

from memlab.retrieval.knn import KNNMemory, recall_at_k  # noqa: F401
from memlab.retrieval.memorizing import MemorizingAttention  # noqa: F401
from memlab.retrieval.vq import ProductQuantizer, VQMemory  # noqa: F401
