"""``python -m incprof`` runs the command line (useful where the script is not installed)."""

from incprof.cli import main

main()
