"""``python -m cloudos``."""

from cloudos.cli import main

main()
