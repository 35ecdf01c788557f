"""linkdesk's subcommands."""
