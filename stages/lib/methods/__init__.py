"""Classifiers: every method implements the contract in `base` (fit, predict, describe, fit_seconds_)."""
