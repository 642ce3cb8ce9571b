"""Where the engine's orders go: the broker interface and its implementations (paper for now)."""
