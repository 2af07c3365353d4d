"""`python -m keyraft.app.k8s start|pre-stop`."""

from keyraft.app.k8s.cli import main

main()
