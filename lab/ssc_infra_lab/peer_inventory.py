"""NetBox's own Ansible inventory plugin as a peer: `netbox.netbox.nb_inventory` pointed at the
same NetBox must list the hosts the project's inventory script lists, grouped by role.

The collection comes from the `ansible` package on PyPI (its wheel carries netbox.netbox),
downloaded once with its hash checked and unpacked into the cache directory: nothing else of
that 57 MB wheel is installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

from ssc_infra.core.errors import BackendError
from ssc_infra_lab.process import cache_dir

ANSIBLE_RELEASE = "11.13.0"  # its netbox.netbox is 3.21.0
ANSIBLE_WHEEL_SHA256 = "7f1c9c6a6026ff214d9240647e4d2b019b2a9d4c7a2bc733932bcf92af80ab04"
_MEMBER = "ansible_collections/netbox/netbox/"


def ensure_netbox_collection() -> Path:
    """The folder to put on ANSIBLE_COLLECTIONS_PATH: it holds netbox.netbox.

    Raises:
        BackendError: the wheel cannot be downloaded, or its hash is not the pinned one.
    """
    root = cache_dir() / f"collections-ansible-{ANSIBLE_RELEASE}"
    if (root / ".complete").exists():
        return root
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        requirement = folder / "requirements.txt"
        requirement.write_text(f"ansible=={ANSIBLE_RELEASE} --hash=sha256:"
                               f"{ANSIBLE_WHEEL_SHA256}\n", encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "--require-hashes", "-r", str(requirement), "-d",
             str(folder / "wheel")], capture_output=True, text=True, check=False)
        wheels = list((folder / "wheel").glob("ansible-*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            raise BackendError(f"cannot download ansible=={ANSIBLE_RELEASE} for the "
                               f"netbox.netbox collection: {done.stderr.strip()[-400:]}")
        digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
        if digest != ANSIBLE_WHEEL_SHA256:
            raise BackendError(f"{wheels[0].name}: sha256 {digest} is not the pinned one")
        staging = folder / "collections"
        with zipfile.ZipFile(wheels[0]) as wheel:
            for member in wheel.namelist():
                if member.startswith(_MEMBER) and ".." not in member.split("/"):
                    wheel.extract(member, staging)
        (staging / ".complete").write_text(ANSIBLE_RELEASE + "\n", encoding="utf-8")
        shutil.rmtree(root, ignore_errors=True)
        root.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), root)
    return root


def nb_inventory(url: str, token: str, site: str, timeout: float = 300) -> dict[str, Any]:
    """`ansible-inventory --list` through nb_inventory for the devices at `site`.

    Groups are the device roles, named as the roles are (group_names_raw).
    """
    collections = ensure_netbox_collection()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "netbox.yml"  # the token is in it: the folder is private
        Path(tmp).chmod(0o700)
        config.write_text(yaml.safe_dump({
            "plugin": "netbox.netbox.nb_inventory", "api_endpoint": url,
            "token": {"type": "Bearer", "value": token}, "validate_certs": False,
            "group_by": ["device_roles"], "group_names_raw": True,
            "query_filters": [{"site": site}], "interfaces": False, "services": False,
            "config_context": False, "plurals": True,
        }), encoding="utf-8")
        env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections),
               "ANSIBLE_INVENTORY_ENABLED": "netbox.netbox.nb_inventory",
               "ANSIBLE_LOCAL_TEMP": tmp, "ANSIBLE_HOME": tmp,
               "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
               "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true"}
        command = [str(Path(sys.executable).with_name("ansible-inventory")), "-i", str(config),
                   "--list"]
        done = subprocess.run(command, capture_output=True, text=True, env=env,
                              timeout=timeout, check=False)
    if done.returncode != 0:
        raise BackendError(f"nb_inventory failed: {done.stderr.strip()[-600:]}")
    return dict(json.loads(done.stdout))


def hosts_by_group(listing: dict[str, Any]) -> dict[str, set[str]]:
    """An `ansible-inventory --list` output as group -> hosts (groups with hosts only)."""
    return {name: set(body.get("hosts", [])) for name, body in listing.items()
            if isinstance(body, dict) and body.get("hosts")}


def plain(value: Any) -> Any:
    """A value of `ansible-inventory --list` without its "unsafe" wrapping."""
    if isinstance(value, dict) and set(value) == {"__ansible_unsafe"}:
        return value["__ansible_unsafe"]
    return value
