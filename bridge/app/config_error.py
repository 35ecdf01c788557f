"""The one error the configuration loader and its helpers raise, and the
check of a table's settings against their types that raises it."""


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the setting."""


def typed(table: dict, schema: dict[str, type | tuple[type, ...]], where: str) -> dict:
    unknown = set(table) - set(schema)
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    for key, value in table.items():
        if not isinstance(value, schema[key]) or isinstance(value, bool):
            wanted = schema[key] if isinstance(schema[key], tuple) else (schema[key],)
            raise ConfigError(f"{where}.{key}: expected {' or '.join(t.__name__ for t in wanted)}, got {value!r}")
    return dict(table)
