"""One module per `reelbot` subcommand."""
