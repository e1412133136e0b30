"""Training: search a strategy's parameters for out-of-sample performance (walk-forward folds,
a lockbox holdout, overfitting diagnostics) and report it. Pure: the Ray driver is actors/train.py."""
