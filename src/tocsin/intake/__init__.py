"""Ways in: adapters that turn foreign payloads (Alertmanager, Grafana, ...) into Tocsin events.

Each adapter checks its payload field by field and hands the intake ordinary
:class:`~tocsin.services.event_input.EventInput` values; nothing here stores anything.
"""
