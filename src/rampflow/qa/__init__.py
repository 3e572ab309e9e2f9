"""Quality assessment: per-step diagnostic plots (:mod:`.diagnostics`), the DQ flag
decoder behind ``rampflow flags`` (:mod:`.flags`) and the QA report (:mod:`.report`)."""
