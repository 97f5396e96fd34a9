"""A training script that parses its command line when imported, as many do."""

raise SystemExit(2)
