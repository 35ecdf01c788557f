"""The domain: transfers, three-way calls, conferences, orders and their
delivery. Imports neither Twisted, panoramisk nor SQLite (a test holds it to that)."""
