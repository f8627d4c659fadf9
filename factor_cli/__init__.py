"""Factor on Snakemake: LOFAR direction-dependent facet calibration.

The package holds the domain logic (parset, directions, facets, simulation, engine calls);
the Snakemake workflow under ``workflow/`` only wires these together as file dependencies.
"""

__version__ = "0.1.0"
