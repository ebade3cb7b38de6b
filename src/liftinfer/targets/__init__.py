"""Deployment targets, one plugin per module."""
