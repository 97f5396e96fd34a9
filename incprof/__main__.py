"""``python -m incprof`` runs the command line (useful where the script is not installed)."""

from incprof.cli import main

if __name__ == "__main__":  # not when a second process (report's counters) imports it
    main()
