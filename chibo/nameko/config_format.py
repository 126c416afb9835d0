"""The config files' format is nameko's: YAML whose `!env_var` and `!raw_env_var` tags
name environment variables (`${VAR:default}`), read the same by `nameko run` and by
`chibo`."""

from __future__ import annotations

from nameko.cli.main import setup_yaml_parser


def register_env_var_tags() -> None:
    """Teach PyYAML's safe loader nameko's environment-variable tags."""
    setup_yaml_parser()
