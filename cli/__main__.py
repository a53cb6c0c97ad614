"""`python -m cli`: the same as the `sylo` command."""

from cli import main

main()
