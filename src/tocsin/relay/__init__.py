"""The online service: a relay that many sites send their alarm email through.

- :mod:`.policy`: per-device rules as pure decisions (senders, size, quota bucket)
- :mod:`.errors`: why a submission is refused (HTTP status and SMTP reply)
- :mod:`.rewrite`, :mod:`.dkim_signer`: From alignment, trace header, DKIM signature
- :mod:`.relay_sql`, :mod:`.store`: devices and submissions next to the outbox tables
- :mod:`.service`: the use cases every face calls
- :mod:`.api` (HTTPS) and :mod:`.submission` (SMTP, STARTTLS + AUTH): the faces
- :mod:`.mx`, :mod:`.delivery`, :mod:`.worker`: MX lookup and delivery with mandatory
  STARTTLS, through the outbox engine
- :mod:`.server`: ``tocsin relay serve``

Import the submodules you need; this package imports nothing heavy by itself.
"""
