"""Everything that decides and wires, in rooms: `core` (the domain), `store`
(SQLite), `api` (HTTP), `app` (config and wiring), `cli`, and `lab`."""
