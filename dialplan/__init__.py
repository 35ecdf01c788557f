"""Renders the Asterisk contexts linkdesk needs from its own configuration."""
