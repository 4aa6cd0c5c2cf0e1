"""Implementation of the insurer-traffic simulator; use :mod:`workers.simulate`."""
