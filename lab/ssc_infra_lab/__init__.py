"""The lab of ssc-infra: throwaway servers on loopback for the demo, the tests and the benchmarks.

- `dc`: a Samba AD DC (from a provisioned template kept in the cache directory);
- `netbox`, `netbox_install`: a NetBox 4.7 with its own PostgreSQL and Redis;
- `graph_emulator`: a stateful Microsoft Graph EMULATOR (no real tenant is reachable here);
  `graph`: the lab's tenants in it and its Entra Connect (`entra_sync`);
- `peer_inventory`: the netbox.netbox collection's inventory, to compare with the tool's own;
- `cli`: `ssc-infra lab up|down|status|entra-sync`, registered through the entry point group
  `ssc_infra.commands`.

Never a production dependency: ssc_infra does not import this package.
"""
