"""Searching instead of gridding: the logic behind ``hydra/sweeper=search``.

Optuna samples the configurations and keeps the study; aesweep runs them through any Hydra
launcher, in synchronous successive-halving rungs over ``trainer.epochs`` when asked, so
that a promotion costs only the extra epochs (each job resumes from its configuration's
checkpoint). Importable and testable without Hydra's runtime:

- :mod:`~aesweep.search.space`: the search space, in Hydra's override grammar;
- :mod:`~aesweep.search.halving`: rungs, brackets and promotions;
- :mod:`~aesweep.search.study`: the study's storage, name, sampler and trial owners;
- :mod:`~aesweep.search.settings`: ``hydra.sweeper.*``, checked before anything runs;
- :mod:`~aesweep.search.driver`: the loop that asks, launches and tells.

The Hydra plugin is ``hydra_plugins.aesweep_plugins.search``.
"""
