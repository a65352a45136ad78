"""Seeded synthetic tasks for sequence memories: the shared testbed.

Every generator returns a :class:`TaskBatch` -- ``inputs`` and ``targets`` as ``LongTensor[n, T]``
in the language-model convention: ``targets[i, t]`` is the token the model must output *at*
position ``t`` (after reading ``inputs[i, :t+1]``), and ``-100`` (``IGNORE``) wherever nothing is
asked. ``meta`` holds the generator's arguments and per-example facts (e.g. where the needle is).

    from memlab.tasks import mqar
    batch = mqar(n_examples=1000, seq_len=64, n_pairs=8, vocab_size=128, seed=0)
    batch.inputs.shape, (batch.targets != -100).sum(1)   # (1000, 64), 8 answers per example

Generators (``memlab/tasks/synthetic.py``):

- :func:`mqar` -- multi-query associative recall in Zoology's layout (Arora et al. 2023).
- :func:`selective_copying` -- copy the data tokens scattered among noise (Mamba, Gu & Dao 2023).
- :func:`needle` -- one key-value "passkey" at a controlled depth in a haystack, asked at the end.
- :func:`nback` -- at every position output the token seen ``n`` steps earlier.
- :func:`serial_recall` -- a list of items, then recall them in order.

Impossible configurations (more pairs than fit, a vocabulary too small for the layout) raise a
``ValueError`` that names the argument. Other chapters add their own task modules under
``memlab/tasks/`` and import them by full path.
"""

from memlab.tasks.synthetic import *  # the generators of synthetic.__all__
from memlab.tasks.synthetic import __all__  # noqa: F401
