"""scintnet.sim"""
