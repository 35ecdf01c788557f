"""linkdesk's store: embedded SQLite in WAL mode (the default) or a shared
PostgreSQL database, the same schema migrations on both, and the tables
behind transfers, conferences, orders and the outbox."""
