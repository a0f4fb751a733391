"""The one contract between robot, firmware bridge and trainer: observation/action specs and their
hash, the msgpack wire protocol, the policy I/O names, signed manifests, configuration, keys.
Imports none of the other packages.
"""
