#!/usr/bin/env bash
# Installs the Debian packages the tool and its tests need, only those missing.
# Usage: scripts/install-system.sh python|all
set -euo pipefail

want=()
need() {  # need <command> <package...>: queue the packages when the command is missing
  local command=$1; shift
  command -v "$command" >/dev/null 2>&1 || want+=("$@")
}

case "${1:-all}" in
  python)
    python3 -c 'import ensurepip' 2>/dev/null || want+=(python3-venv python3-pip)
    ;;
  all)
    python3 -c 'import ensurepip' 2>/dev/null || want+=(python3-venv python3-pip)
    # Active Directory: Samba AD DC; samba-ad-provision is only a Recommends, but
    # provisioning fails without it.
    need samba-tool samba-ad-dc samba-ad-provision
    dpkg -s samba-ad-provision >/dev/null 2>&1 || want+=(samba-ad-provision)
    # The workplace hosts' config checkers (testparm comes with samba-common-bin), and sshd
    # for the test that runs a playbook over SSH (into a network namespace: iproute2).
    need testparm samba-common-bin
    need kea-dhcp4 kea-dhcp4-server
    need freeradius freeradius
    need radclient freeradius-utils
    need wg wireguard-tools
    [ -x /usr/sbin/sshd ] || want+=(openssh-server)
    command -v ssh >/dev/null 2>&1 || want+=(openssh-client)
    need ip iproute2
    # bench/apply_ceiling.py: OpenLDAP's ldapadd as one of the DC's write ceilings.
    need ldapadd ldap-utils
    # The lab NetBox (lab/ssc_infra_lab/netbox.py): PostgreSQL 15's server and Redis; NetBox
    # itself comes from PyPI into a venv of Python 3.12 (pyenv's, or Debian's python3.12).
    [ -x /usr/lib/postgresql/15/bin/initdb ] || want+=(postgresql-15)
    need redis-server redis-server
    need setpriv util-linux
    # psycopg's C extension (in NetBox's lock) is built from source: libpq's headers, a compiler.
    need pg_config libpq-dev
    need gcc gcc
    # The nightly report's page is checked in headless Chromium (tests/chromium.py drives it
    # over the DevTools protocol: no driver, no browser download); a font to render its text.
    need chromium chromium
    [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || want+=(fonts-dejavu-core)
    ;;
  *) echo "usage: $0 python|all" >&2; exit 2 ;;
esac

[ ${#want[@]} -eq 0 ] && exit 0
mapfile -t want < <(printf '%s\n' "${want[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${want[*]}; run as root: apt-get install -y ${want[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
