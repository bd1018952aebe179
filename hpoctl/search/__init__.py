"""The search: how a plan's space and algorithm become Optuna objects, the same on every backend.

`space` is the parameter codec (distributions, conditions, a configuration's identity), `samplers` the one
factory of samplers, `dedupe` the wrapper that keeps any sampler from repeating a configuration, `pruners`
early stopping, `objectives` how a trial's per-epoch metrics become its result."""
