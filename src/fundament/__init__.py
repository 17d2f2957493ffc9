"""Fundament: a self-hostable, multi-tenant backend for B2B SaaS."""

__version__ = "0.1.0"
