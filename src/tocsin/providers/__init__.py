"""Provider presets and settings discovery from the sender address.

Two floors, kept apart so the pure part never pulls the network in:

- :mod:`tocsin.providers.presets` (core): the presets table (data, ``presets.yaml``,
  validated with pydantic), the types of a discovery answer, and the matching of a
  domain or an MX host to a preset.
- :mod:`tocsin.providers.autoconfig` (core): the parser of an autoconfig document
  (Thunderbird's ``config-v1.1.xml``), size-limited and without DTDs.
- :mod:`tocsin.providers.discovery` (machinery): the lookups themselves (HTTPS with
  httpx, DNS with dnspython), concurrent and bounded in time.

This package imports neither: import the module you need.
"""
