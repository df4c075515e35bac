"""`ssc-infra partner ...`: a partner's life in the SSC. Options and output only; the work is
`ssc_infra.lifecycle`."""

from __future__ import annotations

from ssc_infra.cli import main


@main.group()
def partner() -> None:
    """Onboard a partner, offboard one with nothing lost, merge partners.

    \b
    Every command changes the inventory, then shows that partner's plan; nothing changes in
    AD, Microsoft 365 or on the hosts before the plan is applied.
    """
