"""Model composition and cost: :mod:`fertk.models.sequence` (backbone + temporal head) and
:mod:`fertk.models.cost` (parameters, MACs, latency). Import the submodules (they use torch).
"""
