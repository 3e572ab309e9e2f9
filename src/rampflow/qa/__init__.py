"""Quality assessment: per-step diagnostic plots and tables (:mod:`.diagnostics`, one module per
diagnostic), the DQ flag decoder behind ``rampflow flags`` (:mod:`.flags`) and the QA page built
from the workflow's manifest (:mod:`.report`, with :mod:`.html`, :mod:`.products`,
:mod:`.entries` and :mod:`.sections`)."""
