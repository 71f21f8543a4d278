"""Research on swept results: choosing combinations (:mod:`.selection`), the featured runs and
the month's best-by-run selection re-run in full (:mod:`.featured`, :mod:`.best_by_run`), chaining
months (:mod:`.chain`; empty months, holes and the chains they split a symbol's months into:
:mod:`.months`) into full-period metrics (:mod:`.full_period`) and walk-forward decisions
(:mod:`.walk_forward`) with overfitting statistics (:mod:`.overfitting`), and the provenance of
every result (:mod:`.provenance`)."""
