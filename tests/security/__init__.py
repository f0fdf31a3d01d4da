"""Hostile inputs: files and arguments built to break latentlab, and what it does with them instead."""
