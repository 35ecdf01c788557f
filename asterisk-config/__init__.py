"""The lab's site files, shipped in the package as `linkdesk.asterisk_config`:
each PBX's Asterisk config (110/, 12345/, common/), lab.toml, TESTED-WITH and
the sipp scenarios (sipp/). No code: the lab tooling reads them through
`importlib.resources` (bridge/lab/layout.py `package_dir`)."""
