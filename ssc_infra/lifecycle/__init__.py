"""A partner's life in the SSC: onboard (invlechting), offboard (ontvlechting), merge.

Each is a pure transform of the inventory (the Region and the files that hold it), followed by
the one plan and apply of `ssc_infra.run`, across AD, Microsoft 365 and the workplace hosts.
"""
