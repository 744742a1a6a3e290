"""Adaptive search: a sweep whose cells (trials) an Optuna sampler chooses one after another.

The store is the truth. Every trial is an ordinary run of its sweep, its parameters and the sampler's
notes on it kept in the run's extra; the Optuna study is rebuilt in memory from those runs whenever a
trial is asked for or a pruner is consulted (study.py), so resuming never loses the sampler's state, a
crashed trial never stays RUNNING in a second copy of the truth, and SQLite needs no second writer.

    space.py   the [search] table, checked (pure: no Optuna, no store)
    study.py   runs -> an in-memory Optuna study; the samplers and pruners
    prune.py   the worker's question after each epoch: is this trial pruned?
"""
