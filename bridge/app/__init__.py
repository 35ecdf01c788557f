"""The process: the one config loader, the wiring, the AMI event intake, the reactor."""
