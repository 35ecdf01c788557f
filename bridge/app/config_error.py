"""The one error the configuration loader and its helpers raise."""


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the setting."""
