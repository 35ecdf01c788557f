"""linkdesk's embedded store: SQLite in WAL mode, its schema migrations, and
the tables behind transfers, conferences, orders and the outbox."""
