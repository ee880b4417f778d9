"""reelbot."""
