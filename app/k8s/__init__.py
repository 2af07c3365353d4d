"""Run keyraft as a StatefulSet pod that joins, rejoins, replaces and removes itself.

`python -m keyraft.app.k8s start` decides from the pod's name, its volume and the member
list of the running members how this member must start, then execs the server;
`python -m keyraft.app.k8s pre-stop` removes the member when a scale-down retires its pod.
Face-level code: it reaches the members only through their public HTTP API.
"""
