"""The core of linkdesk: transfers, conferences, orders, the store, the HTTP API and the process wiring."""
