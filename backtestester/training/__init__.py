"""Hyper-parameter training: search a strategy's parameters over walk-forward folds and say
whether the winner is real (issue 15). Pure: numpy, pyarrow and optuna; the Ray driver is
``actors/train.py``.

Modules:

* :mod:`~backtestester.training.folds`: walk-forward and combinatorial purged folds, the holdout
  lockbox.
* :mod:`~backtestester.training.evaluate`: one trial, its in-sample and out-of-sample scores per
  fold.
* :mod:`~backtestester.training.diagnostics`: overfitting diagnostics (PSR, MinTRL, DSR, PBO by
  CSCV) and a plain-language verdict.
* :mod:`~backtestester.training.search`: the study's specification and the Optuna search.
* :mod:`~backtestester.training.report`: the study's report (HTML, leaderboard, best config).
"""
