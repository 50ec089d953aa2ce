"""Studies: analyses over trained and evaluated runs, each a public function with a ``scintnet study``
command (they used to be scripts in ``benchmarks/``).

=================  ==========================================================================
table_klz800       the paper's Table I background groups for several runs, paired and over trainings;
                   plot_trainings draws its --json
compare_table      params, FLOPs, training speed, AUC and rejections of several runs (markdown)
multisite          single- vs multi-site 3 MeV gammas (talk 001's interpretability study)
delayed_light      light outside the map window (⁹⁰Nb's delayed γ-rays) and a plain cut on it
migrate_scores     add the double-pulse variable to scores files written before it existed
=================  ==========================================================================

The robustness map (``scintnet pressure-map``) and the particle-ID study (``scintnet tag-pid``) are
stage commands of evaluate and tagging.
"""
