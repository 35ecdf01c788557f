"""The AMI connection on panoramisk and typed helpers for the actions linkdesk sends."""
