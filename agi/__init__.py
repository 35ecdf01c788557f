"""The FastAGI wire protocol, the route table and the thin route handlers."""
