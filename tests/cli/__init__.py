"""Tests of the `shiptrack` command-line tool (cli/shiptrack_cli)."""
