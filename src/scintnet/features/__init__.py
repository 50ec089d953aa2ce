"""scintnet.features"""
