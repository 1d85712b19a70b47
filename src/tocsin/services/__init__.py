"""Use cases the faces call: thin functions over the core and the machinery."""

from tocsin.services.context import Services
from tocsin.services.settings import SettingsService

__all__ = ["Services", "SettingsService"]
