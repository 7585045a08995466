"""The Ray Jobs wrapper behind `rlcloud submit / jobs / logs / stop` (any cluster, any cloud)."""
