"""The lab: two real Asterisk PBXs (110 and 12345) in a Debian sid chroot, for tests and demos."""
