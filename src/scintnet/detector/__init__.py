"""scintnet.detector"""
