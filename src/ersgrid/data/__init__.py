"""Offline data: weather, standard load profiles and price files, read where they come in."""
