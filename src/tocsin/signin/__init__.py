"""Signing in to mail providers with OAuth2: providers, tokens, SASL for SMTP."""
