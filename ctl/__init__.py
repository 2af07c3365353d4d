"""`keyraftctl`: an etcdctl-style client that speaks only etcd's JSON gateway.

Because it uses nothing but the gateway, the same binary works against keyraft and real
etcd, which is what lets the tests compare the two byte for byte.
"""
