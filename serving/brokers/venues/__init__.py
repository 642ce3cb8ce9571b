"""Per-venue quirks of the ccxt broker: one module per exchange, the rest is generic."""

from serving.brokers.venues.base import VenueQuirks, quirks_for

__all__ = ["VenueQuirks", "quirks_for"]
