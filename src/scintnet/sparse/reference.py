"""Published figures the sparse-sensing benchmark is compared with."""

# Seed 003 (report on ML for accelerator experiments), Table 1: electrons at a 34 % data reduction,
# "energy-calibration precision [%]" at 2.5 / 5 GeV.  Its definition is not sigma/E (it grows with
# energy), so the comparable figure is the relative degradation against the full readout.
SEED_003_TABLE1 = {"full": {"2.5": 17.59, "5.0": 20.40}, "optimised": {"2.5": 19.69, "5.0": 22.36},
                   "random": {"2.5": 20.04, "5.0": 23.19}}
SEED_003_DEGRADATION = {m: {e: v / SEED_003_TABLE1["full"][e] - 1 for e, v in row.items()}
                        for m, row in SEED_003_TABLE1.items() if m != "full"}
# SiD ECAL design resolution (seed 003; SiD LoI arXiv:0911.0006): 17 %/sqrt(E) (+) 1 %
SID_STOCHASTIC = 0.17
SID_CONSTANT = 0.01
