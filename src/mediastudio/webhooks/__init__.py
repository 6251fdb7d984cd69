"""Webhooks: endpoints an account registers, and the durable deliveries of its events.

A terminal generation writes its deliveries in the transaction that finishes it
(:mod:`mediastudio.webhooks.outbox`); ``runtime/webhooks.py`` sends them, signed
(:mod:`mediastudio.webhooks.signing`), with retries. Receivers verify with
:func:`mediastudio.webhooks.verify.verify_webhook`.
"""
