"""The math of the update: log-probabilities under constrained decoding, advantages, loss."""
