"""scintnet.reco"""
