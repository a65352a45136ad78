"""Memory layers: huge trainable key-value tables read sparsely (chapter 08).

``product_keys``: the product-key memory of Lample et al. 2019 (exact top-k over N = |K|^2
slots from 2|K| + k^2 scores) and its exhaustive reference scorer.
``experiments``: the chapter's experiments (equality, long-tail memorisation vs an MLP).
"""

from memlab.layers.product_keys import (  # noqa: F401
    ProductKeyMemory,
    candidate_pairs,
    count_scores,
    exhaustive_topk,
    product_key_topk,
)
