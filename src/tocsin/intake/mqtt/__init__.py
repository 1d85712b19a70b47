"""MQTT topics as a way in: ``tocsin serve`` subscribes to a broker (QoS 1, persistent
session) and turns each JSON message into an event, acknowledged only once committed.

Modules, by floor: :mod:`.config` (the settings, validated: core), :mod:`.store` (the
dead-letter table) and :mod:`.connection` (paho, one broker connection: machinery),
:mod:`.service` (settings, status, one message into an event: a service) and
:mod:`.subscriber` (the loop ``tocsin serve`` runs: beside the faces).  Import them by
name; this package imports none, so the pages never load paho.
"""
