"""Learned detector response: per-tube calibration from background data (seed 001, issue 21).

``samples`` builds the benchmark (hidden per-tube deviations, nominal simulation, hit tables), ``moments``
the classical baseline, ``response`` the per-tube response fitted by maximum likelihood, ``gan`` the
talk's adversarial approach, ``scores`` compares each with the injected truth, ``bench`` runs them all.
"""
