"""The failover chain at work: which link each email takes, and moving alarms on.

- :mod:`.health` keeps each link's state (up, failing, down) and routes an email by
  its priority: alarms to the first link that is up, warnings and system mail to the
  primary unless the policy lets them follow.
- :mod:`.sender` sends a claimed batch through the links, moving an email to the next
  link only when nothing of it was delivered, so each email goes out once.
"""

from tocsin.outbox.chain.health import ChainHealth, LinkState, Route
from tocsin.outbox.chain.sender import ChainSender, FailoverHook

__all__ = ["ChainHealth", "ChainSender", "FailoverHook", "LinkState", "Route"]
