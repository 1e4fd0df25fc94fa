"""Writes to areas, grids and the point layers."""

from layers import selectors


def assign_areas(record):
    """Set the grid, community and street of a point record from its location.

    A point outside every grid keeps grid=None and shows in the unassigned list; its
    community and street are still set when it falls inside them.
    """
    if record.location is None:
        record.grid = record.community = record.street = None
        return
    grid = selectors.grid_containing(record.location)
    if grid is not None:
        record.grid = grid
        record.community = grid.community
        record.street = grid.community.street
        return
    record.grid = None
    record.community = selectors.community_containing(record.location)
    record.street = (
        record.community.street
        if record.community is not None
        else selectors.street_containing(record.location)
    )
