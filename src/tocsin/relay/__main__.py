"""``python -m tocsin.relay``: the relay's command line without the appliance's."""

from tocsin.cli import run
from tocsin.cli.relay import relay_app

run(relay_app, prog_name="tocsin relay")
