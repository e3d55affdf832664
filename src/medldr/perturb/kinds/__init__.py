"""One module per family of perturbations; each function is pure: ``(case, rng, **params) -> Change | None``."""
