"""scintnet.optics"""
