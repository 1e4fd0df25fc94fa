"""Point → grid assignment for whole files: shapely STRtree over the current grids.

Same rule as layers.sql.locate (one point at a time): a point on a boundary shared by several
grids goes to the one with the smallest code; a point outside every grid keeps no grid,
and its community and street are still set when it lies inside them.
"""

import numpy as np
import shapely

from layers import sql

NONE = -1


class AreaIndex:
    """The current grids, communities and streets in memory, ready for bulk queries."""

    def __init__(self):
        grids = sql.current_grid_wkb()  # ordered by code: tree index == rank of the code
        self.grid_ids = np.array([g[0] for g in grids], dtype=np.int64)
        self.grid_community = np.array([g[1] for g in grids], dtype=np.int64)
        self.grid_street = np.array([g[2] for g in grids], dtype=np.int64)
        self.grid_tree = shapely.STRtree(shapely.from_wkb([bytes(g[3]) for g in grids]))
        communities = sql.area_wkb("community")
        self.community_ids = np.array([c[0] for c in communities], dtype=np.int64)
        self.community_street = np.array([c[1] for c in communities], dtype=np.int64)
        self.community_tree = shapely.STRtree(shapely.from_wkb([bytes(c[2]) for c in communities]))
        streets = sql.area_wkb("street")
        self.street_ids = np.array([s[0] for s in streets], dtype=np.int64)
        self.street_tree = shapely.STRtree(shapely.from_wkb([bytes(s[2]) for s in streets]))

    @staticmethod
    def _first_hit(tree, points):
        """Return, per point, the smallest tree index that intersects it, or NONE."""
        best = np.full(len(points), np.iinfo(np.int64).max, dtype=np.int64)
        if len(points) and len(tree):
            pidx, tidx = tree.query(points, predicate="intersects")
            np.minimum.at(best, pidx, tidx)
        best[best == np.iinfo(np.int64).max] = NONE
        return best

    def assign(self, lon, lat):
        """Return (grid ids, community ids, street ids) per point; NONE where outside."""
        points = shapely.points(lon, lat)
        n = len(points)
        grid = np.full(n, NONE, dtype=np.int64)
        community = np.full(n, NONE, dtype=np.int64)
        street = np.full(n, NONE, dtype=np.int64)
        hit = self._first_hit(self.grid_tree, points)
        inside = hit != NONE
        grid[inside] = self.grid_ids[hit[inside]]
        community[inside] = self.grid_community[hit[inside]]
        street[inside] = self.grid_street[hit[inside]]
        out = np.flatnonzero(~inside)
        if len(out):
            chit = self._first_hit(self.community_tree, points[out])
            cin = chit != NONE
            community[out[cin]] = self.community_ids[chit[cin]]
            street[out[cin]] = self.community_street[chit[cin]]
            rest = out[~cin]
            if len(rest):
                shit = self._first_hit(self.street_tree, points[rest])
                sin = shit != NONE
                street[rest[sin]] = self.street_ids[shit[sin]]
        return grid, community, street
