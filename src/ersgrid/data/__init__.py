"""Offline data and importers: weather, standard load profiles, price files and DR events,
read where they come in, with errors that name the line and column."""
