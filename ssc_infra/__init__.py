"""ssc-infra: identities and workplaces of a municipal Shared Service Center."""

__version__ = "0.1.0"
