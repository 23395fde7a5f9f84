"""The training engine: the Trainer loop, checkpoints, optimisers and schedules, devices."""
