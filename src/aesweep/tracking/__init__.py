"""Tracking, at the edge: the MLflow store, runs and what they log, resuming sweeps, and
the callback around a sweep. Nothing upstream of it imports MLflow."""
