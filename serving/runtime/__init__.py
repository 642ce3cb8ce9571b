"""What runs the engine outside a backtest: the injected clock and the bar-by-bar runner."""
