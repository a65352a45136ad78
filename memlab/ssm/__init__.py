"""State-space memory (chapter 05): a fixed-size state that summarises the whole past.

- :mod:`memlab.ssm.hippo`  -- HiPPO-LegS matrices, online Legendre projection, bilinear / ZOH
  discretisation, read-outs (HiPPO 2020, LSSL 2021).
- :mod:`memlab.ssm.s4d`    -- S4D diagonal SSM: recurrence and FFT-convolution views (2022).
- :mod:`memlab.ssm.scan`   -- Mamba's selective scan: the paper's loop and a chunked form.
- :mod:`memlab.ssm.mamba`  -- the Mamba block as a ``SequenceMemory`` (selective or LTI S4D core).
- :mod:`memlab.ssm.bmojo`  -- a B'MOJO-style fading + eidetic hybrid (interpretation labelled).
- :mod:`memlab.ssm.experiments` -- the chapter's experiments.
"""

from memlab.ssm.bmojo import BMojo
from memlab.ssm.mamba import Mamba
from memlab.ssm.s4d import S4D
from memlab.ssm.scan import selective_scan_chunked, selective_scan_ref

__all__ = ["S4D", "BMojo", "Mamba", "selective_scan_chunked", "selective_scan_ref"]
