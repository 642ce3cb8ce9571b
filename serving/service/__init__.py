"""The signal service: pure request handling (``core``) behind a thin BentoML layer (``service``).

``core`` answers the API's questions from the candle store, warm per-symbol feature state and
the one signal rule; ``gateway`` is the ASGI layer in front of every route (API keys, scopes,
rate limits, body limits, metrics, audit); ``service`` declares the BentoML service. See
``docs/service.md``.
"""
