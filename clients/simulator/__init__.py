"""A province simulator: generates a province and drives it through the public commands."""
