"""scintnet.models"""
