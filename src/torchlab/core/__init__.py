"""The bottom layer: helpers every other layer may import, importing nothing of torchlab above them.

errors (TorchlabError and exit codes), files (atomic writes, run locks, an empty path refused),
checkpoint (weights-only loading), distributed (process group, shards, collectives), runtime (devices,
seeds, RNG states), metrics (running means of step metrics), flags (switches a `with` block turns on)
and words (a count with its noun in the right number).
"""
