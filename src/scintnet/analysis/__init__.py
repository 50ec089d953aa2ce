"""scintnet.analysis"""
