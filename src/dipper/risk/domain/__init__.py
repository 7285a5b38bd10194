"""Risk domain: pure rules (features, bureau data, strategies, models), free of frameworks and I/O."""
